//! Property tests: compiling never panics, and the operators agree with
//! straightforward reference definitions (negation, disjunction, presence,
//! `str` prefix/suffix, a dynamic-programming glob, `f64` comparisons).

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use weir_filter::Pattern;

fn compile(pattern: &Value) -> Pattern {
    Pattern::from_value(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// Arbitrary JSON whose keys and strings are biased towards the pattern
/// grammar, so that many generated values reach deep into the compiler.
fn grammarish_json() -> impl Strategy<Value = Value> {
    let word = prop_oneof![
        Just("a".to_string()),
        Just("$or".to_string()),
        Just("prefix".to_string()),
        Just("suffix".to_string()),
        Just("equals-ignore-case".to_string()),
        Just("wildcard".to_string()),
        Just("anything-but".to_string()),
        Just("numeric".to_string()),
        Just("exists".to_string()),
        Just("cidr".to_string()),
        Just(">".to_string()),
        Just("<=".to_string()),
        Just("=".to_string()),
        Just("10.0.0.0/8".to_string()),
        Just("::1/200".to_string()),
        "[a*\\\\]{0,4}",
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|x| json!(x)),
        word.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((word.clone(), inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Small event values: strings, numbers, null, booleans, arrays and objects.
fn event_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..6).prop_map(|n| json!(n)),
        (-3.0f64..6.0).prop_map(|x| json!(x)),
        "[abAB]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            inner.prop_map(|v| json!({"x": v})),
        ]
    })
}

/// An event object with fields `a`, `b`, `c`, each possibly absent.
fn event() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(vec!["a", "b", "c"]), event_value()), 0..4)
        .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// One valid leaf matcher, as pattern JSON.
fn matcher() -> impl Strategy<Value = Value> {
    let s = "[abAB]{0,2}";
    prop_oneof![
        s.prop_map(Value::String),
        (-3i64..6).prop_map(|n| json!(n)),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        s.prop_map(|p| json!({"prefix": p})),
        s.prop_map(|p| json!({"suffix": p})),
        s.prop_map(|p| json!({"equals-ignore-case": p})),
        "[ab*]{0,3}".prop_filter("no **", |g| !g.contains("**")).prop_map(|g| json!({"wildcard": g})),
        prop::collection::vec(s, 1..3).prop_map(|l| json!({"anything-but": l})),
        (-3i64..6).prop_map(|n| json!({"numeric": [">", n]})),
        (-3i64..3, 1i64..4).prop_map(|(lo, d)| json!({"numeric": [">=", lo, "<", lo + d]})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
    ]
}

/// A valid pattern over fields `a`, `b`, `c` (one may be nested under `x`).
fn pattern() -> impl Strategy<Value = Value> {
    let field = (prop::sample::select(vec!["a", "b", "c"]), prop::collection::vec(matcher(), 1..3), any::<bool>());
    prop::collection::vec(field, 1..3).prop_map(|fields| {
        let map = fields
            .into_iter()
            .map(|(k, leaf, nested)| {
                let rule = if nested { json!({"x": leaf}) } else { Value::Array(leaf) };
                (k.to_string(), rule)
            })
            .collect::<Map<_, _>>();
        Value::Object(map)
    })
}

fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// A glob token: a literal character or a star.
#[derive(Clone, Debug)]
enum Tok {
    Lit(char),
    Star,
}

fn glob_tokens() -> impl Strategy<Value = Vec<Tok>> {
    let tok = prop_oneof![
        2 => prop::sample::select(vec!['a', 'a', 'b', '*', '\\']).prop_map(Tok::Lit),
        1 => Just(Tok::Star),
    ];
    prop::collection::vec(tok, 0..9)
        .prop_filter("no consecutive stars", |t| !t.windows(2).any(|w| matches!(w, [Tok::Star, Tok::Star])))
}

fn glob_text(tokens: &[Tok]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Tok::Star => "*".to_string(),
            Tok::Lit(c @ ('*' | '\\')) => format!("\\{c}"),
            Tok::Lit(c) => c.to_string(),
        })
        .collect()
}

/// Reference glob matcher: dynamic programming over tokens and characters.
fn glob_reference(tokens: &[Tok], s: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    // reach[j]: the tokens consumed so far can match s[..j]
    let mut reach = vec![false; s.len() + 1];
    reach[0] = true;
    for tok in tokens {
        let mut next = vec![false; s.len() + 1];
        for j in 0..=s.len() {
            match tok {
                Tok::Star => next[j] = reach[..=j].iter().any(|&r| r),
                Tok::Lit(c) => next[j] = j > 0 && reach[j - 1] && s[j - 1] == *c,
            }
        }
        reach = next;
    }
    reach[s.len()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parse_never_panics_on_text(text in any::<String>()) {
        let _ = Pattern::parse(&text);
    }

    #[test]
    fn compiling_and_matching_never_panic(pattern in grammarish_json(), event in grammarish_json()) {
        let _ = Pattern::parse(&pattern.to_string());
        if let Ok(p) = Pattern::from_value(&pattern) {
            let _ = p.matches(&event);
        }
    }

    #[test]
    fn operator_values_never_panic(
        op in prop::sample::select(vec![
            "prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr", "x",
        ]),
        value in grammarish_json(),
        event in grammarish_json(),
    ) {
        for pattern in [
            json!({"f": [{op: value}]}),
            json!({"f": [{"anything-but": {op: value}}]}),
            json!({"f": [{"prefix": {op: value}}]}),
            json!({"f": {"g": ["x", {op: value}]}}),
        ] {
            let _ = Pattern::parse(&pattern.to_string());
            if let Ok(p) = Pattern::from_value(&pattern) {
                let _ = p.matches(&event);
                let _ = p.matches(&json!({"f": event}));
            }
        }
    }

    #[test]
    fn anything_but_is_the_negation_of_the_literals(
        excluded in prop::collection::vec("[abc]{0,2}", 1..4),
        value in "[abc]{0,2}",
    ) {
        let event = json!({"f": value});
        let literals = compile(&json!({"f": excluded}));
        let but = compile(&json!({"f": [{"anything-but": excluded}]}));
        prop_assert_eq!(but.matches(&event), !literals.matches(&event));
        if let [single] = excluded.as_slice() {
            let but_single = compile(&json!({"f": [{"anything-but": single}]}));
            prop_assert_eq!(but_single.matches(&event), value != *single);
        }
    }

    #[test]
    fn anything_but_numbers_is_the_negation_of_the_literals(
        excluded in prop::collection::vec(-3i64..4, 1..4),
        value in -3i64..4,
    ) {
        let event = json!({"f": value});
        let literals = compile(&json!({"f": excluded}));
        let but = compile(&json!({"f": [{"anything-but": excluded}]}));
        prop_assert_eq!(but.matches(&event), !literals.matches(&event));
    }

    #[test]
    fn or_matches_iff_a_sub_pattern_matches(a in pattern(), b in pattern(), c in pattern(), event in event()) {
        let pa = compile(&a);
        let pb = compile(&b);
        let either = compile(&json!({"$or": [a, b]}));
        prop_assert_eq!(either.matches(&event), pa.matches(&event) || pb.matches(&event));
        // and beside other keys, under a parent field
        let wrapped = json!({"w": event});
        let mut and_or = c.clone();
        and_or["$or"] = json!([a, b]);
        let combined = compile(&json!({"w": and_or}));
        let pc = compile(&c);
        prop_assert_eq!(
            combined.matches(&wrapped),
            pc.matches(&event) && (pa.matches(&event) || pb.matches(&event))
        );
    }

    #[test]
    fn exists_true_xor_exists_false(value in prop::option::of(event_value())) {
        let event = match value {
            Some(v) => json!({"f": v}),
            None => json!({}),
        };
        let present = compile(&json!({"f": [{"exists": true}]})).matches(&event);
        let absent = compile(&json!({"f": [{"exists": false}]})).matches(&event);
        prop_assert!(present != absent, "{} exists:true={} exists:false={}", event, present, absent);
    }

    #[test]
    fn string_operators_agree_with_str(p in "[aAbBßİK\u{212A}]{0,3}", s in "[aAbBßİK\u{212A}i\u{307}]{0,5}") {
        let event = json!({"f": s});
        let check = |op: Value, want: bool| -> Result<(), TestCaseError> {
            let got = compile(&json!({"f": [op.clone()]})).matches(&event);
            prop_assert_eq!(got, want, "{} on {:?}", op, s);
            Ok(())
        };
        check(json!({"prefix": p}), s.starts_with(&p))?;
        check(json!({"suffix": p}), s.ends_with(&p))?;
        check(json!({"equals-ignore-case": p}), fold(&s) == fold(&p))?;
        check(json!({"prefix": {"equals-ignore-case": p}}), fold(&s).starts_with(&fold(&p)))?;
        check(json!({"suffix": {"equals-ignore-case": p}}), fold(&s).ends_with(&fold(&p)))?;
        if !p.is_empty() {
            check(json!({"anything-but": {"prefix": p}}), !s.starts_with(&p))?;
            check(json!({"anything-but": {"suffix": p}}), !s.ends_with(&p))?;
        }
        check(json!({"anything-but": {"equals-ignore-case": p}}), fold(&s) != fold(&p))?;
    }

    #[test]
    fn wildcard_agrees_with_a_reference_glob(tokens in glob_tokens(), s in prop_oneof!["[ab]{0,7}", "[ab*\\\\]{0,6}"]) {
        let glob = glob_text(&tokens);
        let event = json!({"f": s});
        let want = glob_reference(&tokens, &s);
        prop_assert_eq!(compile(&json!({"f": [{"wildcard": glob}]})).matches(&event), want, "{:?} on {:?}", glob, s);
        prop_assert_eq!(compile(&json!({"f": [{"anything-but": {"wildcard": glob}}]})).matches(&event), !want);
    }

    #[test]
    fn consecutive_stars_are_rejected(left in "[ab]{0,2}", right in "[ab*]{0,2}") {
        let glob = format!("{left}**{right}");
        let rejected = Pattern::from_value(&json!({"f": [{"wildcard": glob}]})).is_err();
        prop_assert!(rejected);
    }

    #[test]
    fn numeric_agrees_with_f64_comparisons(
        lo in -5.0f64..5.0,
        width in 0.001f64..5.0,
        lo_inclusive in any::<bool>(),
        hi_inclusive in any::<bool>(),
        x in prop_oneof![-6.0f64..11.0, (-5i64..11).prop_map(|n| n as f64)],
    ) {
        let hi = lo + width;
        let (lo_op, hi_op) = (if lo_inclusive { ">=" } else { ">" }, if hi_inclusive { "<=" } else { "<" });
        let range = compile(&json!({"f": [{"numeric": [lo_op, lo, hi_op, hi]}]}));
        let above = if lo_inclusive { x >= lo } else { x > lo };
        let below = if hi_inclusive { x <= hi } else { x < hi };
        prop_assert_eq!(range.matches(&json!({"f": x})), above && below);
        for (op, want) in [("=", x == lo), ("<", x < lo), ("<=", x <= lo), (">", x > lo), (">=", x >= lo)] {
            prop_assert_eq!(compile(&json!({"f": [{"numeric": [op, lo]}]})).matches(&json!({"f": x})), want, "{} {} {}", x, op, lo);
        }
        // numeric never matches the same number as a string
        let as_string = range.matches(&json!({"f": x.to_string()}));
        prop_assert!(!as_string);
    }
}
