//! No template text makes the loader panic: damaged copies of the fixtures either load or
//! fail with a `TemplateError`.

use proptest::prelude::*;

use crate::{fixture, load};

/// One edit of a template: delete, duplicate or replace a byte range with template-ish text.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, length: usize },
    Duplicate { at: usize, length: usize },
    Insert { at: usize, text: &'static str },
}

const SNIPPETS: &[&str] = &[
    "!Ref ",
    "!GetAtt ",
    "!Sub '${",
    "}",
    "Fn::If",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "\n  ",
    "- ",
    "AWS::NoValue",
    "Condition: IsProd\n",
    "9999999999999999999999",
    "-1",
    "'",
    "\"",
    "&a ",
    "*a",
    "\t",
    "é",
];

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0usize..8000, 1usize..40).prop_map(|(at, length)| Edit::Delete { at, length }),
        (0usize..8000, 1usize..200).prop_map(|(at, length)| Edit::Duplicate { at, length }),
        (0usize..8000, prop::sample::select(SNIPPETS)).prop_map(|(at, text)| Edit::Insert { at, text }),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let clamp = |at: usize, bytes: &[u8]| at % (bytes.len() + 1);
        match edit {
            Edit::Delete { at, length } => {
                let start = clamp(*at, &bytes);
                let end = (start + length).min(bytes.len());
                bytes.drain(start..end);
            }
            Edit::Duplicate { at, length } => {
                let start = clamp(*at, &bytes);
                let end = (start + length).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Edit::Insert { at, text } => {
                let start = clamp(*at, &bytes);
                bytes.splice(start..start, text.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=20000 for a longer run.
    #[test]
    fn damaged_templates_never_panic(
        name in prop::sample::select(&["sam_short.yaml", "sam_long.yaml", "sam.json", "cloudformation.yaml", "invalid.yaml"][..]),
        edits in prop::collection::vec(edit_strategy(), 1..6),
    ) {
        let text = apply(&fixture(name), &edits);
        // Either outcome is fine; a panic fails the test.
        let _ = load(&text);
    }
}
