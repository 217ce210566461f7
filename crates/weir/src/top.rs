//! `weir top`: a live terminal view of a running server.
//!
//! Owns: fetching one frame a second from `GET /_weir/metrics/summary`
//! (sparklines asked for the rows on screen only), the view (rows sorted,
//! scrolled, formatted) and drawing it with ratatui, or, when stdout is not
//! a terminal (or with `--once`), printing it as plain text.
//! Never: computes a metric (the server's telemetry does) or keeps history.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Gauge, Paragraph, Row, Table};
use weir_core::ThrottleReason;
use weir_node::telemetry::summary::{FunctionSummary, Summary};

use crate::serve::DEFAULT_LISTEN;

/// Seconds of concurrency each sparkline shows.
const SPARKLINE_SECONDS: usize = 60;

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(long, env = "WEIR_ENDPOINT", default_value_t = format!("http://{DEFAULT_LISTEN}"))]
    pub endpoint: String,
    /// Print one frame as text and exit.
    #[arg(long)]
    pub once: bool,
    /// Time between frames.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Rates (invocations/s, errors/s, throttles/s) are averaged over this many seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub window: u64,
    /// Row order.
    #[arg(long, value_enum, default_value = "concurrency")]
    pub sort: SortKey,
    /// Function rows printed per frame in text mode (0: all).
    #[arg(long, default_value_t = 20)]
    pub rows: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    Concurrency,
    Invocations,
    Errors,
    Throttles,
    Name,
}

impl SortKey {
    fn next(self) -> SortKey {
        match self {
            SortKey::Concurrency => SortKey::Invocations,
            SortKey::Invocations => SortKey::Errors,
            SortKey::Errors => SortKey::Throttles,
            SortKey::Throttles => SortKey::Name,
            SortKey::Name => SortKey::Concurrency,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SortKey::Concurrency => "concurrency",
            SortKey::Invocations => "invocations/s",
            SortKey::Errors => "errors/s",
            SortKey::Throttles => "throttles/s",
            SortKey::Name => "name",
        }
    }
}

/// Fetches frames from one server.
#[derive(Clone)]
struct Feed {
    endpoint: String,
    window: u64,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Feed {
    fn new(endpoint: &str, window: u64) -> Feed {
        Feed {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            window,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// One frame, with sparklines for `names`.
    async fn fetch(&self, names: &[String]) -> anyhow::Result<Summary> {
        let uri = format!(
            "{}/_weir/metrics/summary?window={}&sparkline_seconds={SPARKLINE_SECONDS}&sparklines={}",
            self.endpoint,
            self.window,
            names.join(",")
        );
        let request = hyper::Request::get(uri).body(Empty::new())?;
        let response = tokio::time::timeout(Duration::from_secs(5), self.client.request(request)).await??;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            anyhow::bail!("{} answered HTTP {status}: {}", self.endpoint, String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// What is on screen: the latest frame, its rows in order, and the scroll.
pub struct View {
    pub endpoint: String,
    pub summary: Summary,
    pub sort: SortKey,
    /// Indexes into `summary.functions`, in display order.
    order: Vec<usize>,
    pub offset: usize,
    pub error: Option<String>,
}

impl View {
    pub fn new(endpoint: &str, sort: SortKey) -> View {
        View {
            endpoint: endpoint.to_owned(),
            summary: Summary::default(),
            sort,
            order: Vec::new(),
            offset: 0,
            error: None,
        }
    }

    /// Takes a new frame and sorts its rows.
    pub fn update(&mut self, summary: Summary) {
        self.summary = summary;
        self.error = None;
        self.resort();
    }

    fn resort(&mut self) {
        let functions = &self.summary.functions;
        let mut order: Vec<usize> = (0..functions.len()).collect();
        let throttles = |f: &FunctionSummary| f.throttles_per_second.values().sum::<f64>();
        let key = |i: &usize| -> (f64, f64) {
            let f = &functions[*i];
            match self.sort {
                SortKey::Concurrency => (f64::from(f.concurrent), f.invocations_per_second),
                SortKey::Invocations => (f.invocations_per_second, f64::from(f.concurrent)),
                SortKey::Errors => (f.errors_per_second, f.invocations_per_second),
                SortKey::Throttles => (throttles(f), f.invocations_per_second),
                SortKey::Name => (0.0, 0.0),
            }
        };
        order.sort_by(|a, b| {
            key(b)
                .partial_cmp(&key(a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| functions[*a].name.cmp(&functions[*b].name))
        });
        self.order = order;
        self.offset = self.offset.min(self.order.len().saturating_sub(1));
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.resort();
    }

    pub fn scroll(&mut self, by: isize) {
        let last = self.order.len().saturating_sub(1);
        self.offset = self.offset.saturating_add_signed(by).min(last);
    }

    /// The functions of rows `offset..offset + rows`.
    pub fn visible(&self, rows: usize) -> impl Iterator<Item = &FunctionSummary> {
        self.order.iter().skip(self.offset).take(rows).map(|&i| &self.summary.functions[i])
    }

    fn visible_names(&self, rows: usize) -> Vec<String> {
        self.visible(rows).map(|f| f.name.clone()).collect()
    }
}

// ---- formatting -----------------------------------------------------------

fn rate(per_second: f64) -> String {
    if per_second == 0.0 {
        "0".into()
    } else if per_second < 10.0 {
        format!("{per_second:.1}")
    } else if per_second < 10_000.0 {
        format!("{per_second:.0}")
    } else {
        format!("{:.1}k", per_second / 1000.0)
    }
}

fn seconds(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(s) if s < 0.001 => format!("{:.0}µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1}ms", s * 1e3),
        Some(s) => format!("{s:.2}s"),
    }
}

fn bytes(value: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if value as f64 >= 1024.0 * MIB {
        format!("{:.1} GiB", value as f64 / (1024.0 * MIB))
    } else {
        format!("{:.0} MiB", value as f64 / MIB)
    }
}

/// Concurrency per second as block characters, scaled to the line's peak.
pub fn sparkline(points: &[u32]) -> String {
    const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let peak = points.iter().copied().max().unwrap_or(0);
    points
        .iter()
        .map(
            |&v| {
                if v == 0 || peak == 0 {
                    LEVELS[0]
                } else {
                    LEVELS[(v as usize * 8).div_ceil(peak as usize).clamp(1, 8)]
                }
            },
        )
        .collect()
}

fn throttle_rate(f: &FunctionSummary, reason: ThrottleReason) -> String {
    rate(f.throttles_per_second.get(reason.as_str()).copied().unwrap_or(0.0))
}

const FUNCTION_HEADER: [&str; 13] = [
    "FUNCTION", "CONC", "PEAK", "RSV", "PROV", "INV/S", "ERR/S", "THR ACCT", "THR RSV", "THR RATE", "P50", "P99",
    "COLD",
];

fn function_cells(f: &FunctionSummary) -> [String; 13] {
    [
        f.name.clone(),
        f.concurrent.to_string(),
        f.peak.to_string(),
        f.reserved.map_or("-".into(), |r| r.to_string()),
        if f.provisioned > 0 { format!("{}/{}", f.provisioned_ready, f.provisioned) } else { "-".into() },
        rate(f.invocations_per_second),
        rate(f.errors_per_second),
        throttle_rate(f, ThrottleReason::ConcurrentInvocationLimitExceeded),
        throttle_rate(f, ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded),
        throttle_rate(f, ThrottleReason::FunctionInvocationRateLimitExceeded),
        seconds(f.duration_p50_seconds),
        seconds(f.duration_p99_seconds),
        f.cold_starts.to_string(),
    ]
}

fn account_line(s: &Summary) -> String {
    let a = &s.account;
    let mut line = format!(
        "concurrency {}/{}  unreserved {}/{}  claimed {}  peak {}  environments {}/{}  host waiting {}",
        a.concurrent_executions,
        a.concurrency_limit,
        a.unreserved_concurrent_executions,
        a.unreserved_limit,
        a.claimed_account_concurrency,
        a.peak_concurrent_executions,
        a.environments,
        a.host_environment_limit,
        a.host_waiting,
    );
    if let Some(rss) = a.environments_resident_bytes {
        line.push_str(&format!("  memory {}", bytes(rss)));
    }
    line
}

fn clock_text(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    format!("{:02}:{:02}:{:02} UTC", secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

// ---- plain text -------------------------------------------------------------

/// The frame as plain text, with at most `rows` function rows (0: all).
pub fn render_text(view: &View, rows: usize) -> String {
    let s = &view.summary;
    let shown = if rows == 0 { s.functions.len() } else { rows };
    let mut out = String::new();
    out.push_str(&format!(
        "weir top  {}  {}  {} functions  sort: {}\n",
        view.endpoint,
        clock_text(s.epoch_ms),
        s.functions.len(),
        view.sort.label()
    ));
    let a = &s.account;
    let width = 40usize;
    let filled = if a.concurrency_limit == 0 {
        0
    } else {
        (a.concurrent_executions as usize * width).div_ceil(a.concurrency_limit as usize).min(width)
    };
    out.push_str(&format!("account [{}{}] {}\n", "#".repeat(filled), ".".repeat(width - filled), account_line(s)));
    let mut table: Vec<Vec<String>> =
        vec![FUNCTION_HEADER.iter().map(|h| h.to_string()).chain(["CONCURRENCY (60 s)".into()]).collect()];
    for f in view.visible(shown) {
        let spark = s.sparklines.get(&f.name).map_or(String::new(), |p| sparkline(p));
        table.push(function_cells(f).into_iter().chain([spark]).collect());
    }
    out.push_str(&columns(&table));
    let hidden = s.functions.len().saturating_sub(view.offset + shown);
    if hidden > 0 {
        out.push_str(&format!("… {hidden} more functions\n"));
    }
    if !s.queues.is_empty() {
        let mut queues =
            vec![vec!["QUEUE".into(), "VISIBLE".into(), "IN FLIGHT".into(), "DELAYED".into(), "OLDEST".into()]];
        for q in &s.queues {
            queues.push(vec![
                q.name.clone(),
                q.visible.to_string(),
                q.not_visible.to_string(),
                q.delayed.to_string(),
                seconds(q.oldest_age_seconds),
            ]);
        }
        out.push_str(&columns(&queues));
    }
    if let Some(error) = &view.error {
        out.push_str(&format!("error: {error}\n"));
    }
    out
}

/// Left-aligned columns, two spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().enumerate().map(|(c, s)| format!("{s:<w$}", w = widths[c])).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

// ---- terminal ---------------------------------------------------------------

/// Function rows that fit in `area` (the table's header and border excluded).
fn function_rows(area: Rect, queues: usize) -> usize {
    let queue_height = if queues == 0 { 0 } else { (queues + 3).min(10) };
    (area.height as usize).saturating_sub(2 + 1 + queue_height + 3)
}

/// Draws one frame.
pub fn draw(frame: &mut Frame, view: &View) {
    let s = &view.summary;
    let queue_height = if s.queues.is_empty() { 0 } else { (s.queues.len() as u16 + 3).min(10) };
    let [title, account, functions, queues, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(queue_height),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    frame.render_widget(
        Paragraph::new(Line::from(format!(
            "weir top  {}  {}  {} functions  sort: {}",
            view.endpoint,
            clock_text(s.epoch_ms),
            s.functions.len(),
            view.sort.label()
        )))
        .bold(),
        title,
    );
    let a = &s.account;
    let ratio = if a.concurrency_limit == 0 {
        0.0
    } else {
        (f64::from(a.concurrent_executions) / f64::from(a.concurrency_limit)).min(1.0)
    };
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(account_line(s))
            .gauge_style(Style::new().fg(Color::Green).bg(Color::Black)),
        account,
    );

    let rows_fit = (functions.height as usize).saturating_sub(3);
    let rows: Vec<Row> = view
        .visible(rows_fit)
        .map(|f| {
            let spark = s.sparklines.get(&f.name).map_or(String::new(), |p| sparkline(p));
            let mut cells: Vec<Cell> = function_cells(f).into_iter().map(Cell::from).collect();
            cells.push(Cell::from(spark).style(Style::new().fg(Color::Cyan)));
            let row = Row::new(cells);
            if f.errors_per_second > 0.0 || f.throttles_per_second.values().any(|&t| t > 0.0) {
                row.style(Style::new().fg(Color::Yellow))
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(FUNCTION_HEADER.iter().copied().chain(["CONCURRENCY (60 s)"])).bold();
    let name_width = view.visible(rows_fit).map(|f| f.name.chars().count()).max().unwrap_or(0).clamp(8, 48) as u16;
    let widths = [
        Constraint::Length(name_width),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Min(SPARKLINE_SECONDS as u16),
    ];
    let title = format!(
        " functions {}-{} of {} ",
        (view.offset + 1).min(s.functions.len()),
        (view.offset + rows_fit).min(s.functions.len()),
        s.functions.len()
    );
    frame.render_widget(Table::new(rows, widths).header(header).block(Block::bordered().title(title)), functions);

    if !s.queues.is_empty() {
        let rows = s.queues.iter().map(|q| {
            Row::new([
                q.name.clone(),
                q.visible.to_string(),
                q.not_visible.to_string(),
                q.delayed.to_string(),
                seconds(q.oldest_age_seconds),
            ])
        });
        let queue_width = s.queues.iter().map(|q| q.name.chars().count()).max().unwrap_or(0).clamp(8, 80) as u16;
        let widths = [
            Constraint::Length(queue_width),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Min(9),
        ];
        frame.render_widget(
            Table::new(rows, widths)
                .header(Row::new(["QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "OLDEST"]).bold())
                .block(Block::bordered().title(" queues ")),
            queues,
        );
    }
    let hint = match &view.error {
        Some(error) => Line::from(format!("error: {error}")).fg(Color::Red),
        None => Line::from("q quit  ↑/↓ PgUp/PgDn Home/End scroll  s sort").dim(),
    };
    frame.render_widget(Paragraph::new(hint), footer);
}

// ---- running ------------------------------------------------------------------

pub async fn run(args: TopArgs) -> anyhow::Result<()> {
    let feed = Feed::new(&args.endpoint, args.window);
    let mut view = View::new(&args.endpoint, args.sort);
    if args.once || !std::io::stdout().is_terminal() {
        return run_text(&feed, &mut view, &args).await;
    }
    run_terminal(feed, view, args.interval).await
}

/// Plain periodic text: the rows of the previous frame get sparklines.
async fn run_text(feed: &Feed, view: &mut View, args: &TopArgs) -> anyhow::Result<()> {
    let rows = if args.rows == 0 { usize::MAX } else { args.rows };
    let mut names = Vec::new();
    if args.once {
        // One frame to choose the rows, one to show them with their sparklines.
        view.update(feed.fetch(&names).await?);
        names = view.visible_names(rows);
        view.update(feed.fetch(&names).await?);
        print!("{}", render_text(view, args.rows));
        return Ok(());
    }
    loop {
        match feed.fetch(&names).await {
            Ok(summary) => view.update(summary),
            Err(err) => view.error = Some(err.to_string()),
        }
        names = view.visible_names(rows);
        println!("{}", render_text(view, args.rows));
        tokio::time::sleep(args.interval).await;
    }
}

/// The interactive view: a fetcher task and a drawing thread.
async fn run_terminal(feed: Feed, view: View, interval: Duration) -> anyhow::Result<()> {
    let (frames, mut latest) = tokio::sync::watch::channel::<Option<Result<Summary, String>>>(None);
    let visible: Arc<Mutex<Vec<String>>> = Arc::default();
    let refetch = Arc::new(tokio::sync::Notify::new());
    let fetcher = {
        let (visible, refetch) = (visible.clone(), refetch.clone());
        tokio::spawn(async move {
            loop {
                let names = visible.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let frame = feed.fetch(&names).await.map_err(|e| e.to_string());
                if frames.send(Some(frame)).is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = refetch.notified() => {}
                }
            }
        })
    };
    let ui = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
        let mut view = view;
        let mut terminal = ratatui::init();
        let result = (|| -> anyhow::Result<()> {
            let mut dirty = true;
            loop {
                if latest.has_changed().unwrap_or(false) {
                    match latest.borrow_and_update().clone() {
                        Some(Ok(summary)) => view.update(summary),
                        Some(Err(error)) => view.error = Some(error),
                        None => {}
                    }
                    dirty = true;
                }
                if dirty {
                    let completed = terminal.draw(|frame| draw(frame, &view))?;
                    let rows = function_rows(completed.area, view.summary.queues.len()).max(1);
                    let names = view.visible_names(rows);
                    let mut shown = visible.lock().unwrap_or_else(|p| p.into_inner());
                    if *shown != names {
                        *shown = names;
                        refetch.notify_one();
                    }
                    dirty = false;
                }
                if !event::poll(Duration::from_millis(100))? {
                    continue;
                }
                let Event::Key(key) = event::read()? else {
                    dirty = true; // a resize
                    continue;
                };
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                let page = (terminal.size()?.height as isize - 8).max(1);
                match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
                    KeyCode::Down | KeyCode::Char('j') => view.scroll(1),
                    KeyCode::Up | KeyCode::Char('k') => view.scroll(-1),
                    KeyCode::PageDown | KeyCode::Char(' ') => view.scroll(page),
                    KeyCode::PageUp => view.scroll(-page),
                    KeyCode::Home | KeyCode::Char('g') => view.offset = 0,
                    KeyCode::End | KeyCode::Char('G') => view.scroll(isize::MAX),
                    KeyCode::Char('s') => view.cycle_sort(),
                    _ => continue,
                }
                dirty = true;
            }
        })();
        ratatui::restore();
        result
    });
    let result = ui.await?;
    fetcher.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use std::collections::BTreeMap;
    use weir_node::telemetry::summary::{AccountSummary, QueueSummary};

    fn sparklines_of(pairs: &[(&str, &[u32])]) -> BTreeMap<String, Vec<u32>> {
        pairs.iter().map(|(name, points)| (name.to_string(), points.to_vec())).collect()
    }

    fn function(name: &str, concurrent: u32, invocations_per_second: f64) -> FunctionSummary {
        FunctionSummary {
            name: name.into(),
            concurrent,
            peak: concurrent + 2,
            invocations_per_second,
            duration_p50_seconds: Some(0.0123),
            duration_p99_seconds: Some(0.25),
            ..Default::default()
        }
    }

    fn summary(functions: usize) -> Summary {
        let mut s = Summary {
            epoch_ms: 3_723_000,
            window_seconds: 5,
            account: AccountSummary { concurrency_limit: 1000, concurrent_executions: 250, ..Default::default() },
            functions: (0..functions).map(|i| function(&format!("fn-{i:04}"), (i % 7) as u32, i as f64)).collect(),
            queues: vec![QueueSummary {
                name: "jobs".into(),
                visible: 12,
                not_visible: 3,
                delayed: 1,
                oldest_age_seconds: Some(4.5),
                ..Default::default()
            }],
            ..Default::default()
        };
        s.functions[0].reserved = Some(5);
        s.functions[0]
            .throttles_per_second
            .insert(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded.as_str().into(), 2.0);
        s.sparklines = sparklines_of(&[("fn-0006", &[0, 1, 2, 3, 4, 5, 6, 7, 8])]);
        s
    }

    fn screen(view: &View, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, view)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol().to_string()).collect::<String>().trim_end().to_string())
            .collect()
    }

    #[test]
    fn sparklines_scale_to_their_peak() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8]), " ▁▂▄█");
        assert_eq!(sparkline(&[0, 0]), "  ");
        assert_eq!(sparkline(&[3, 3]), "██");
    }

    #[test]
    fn a_frame_shows_the_account_bar_the_busiest_functions_and_the_queues() {
        let mut view = View::new("http://127.0.0.1:9700", SortKey::Concurrency);
        view.update(summary(1000));
        let lines = screen(&view, 160, 30);
        let text = lines.join("\n");
        assert!(lines[0].contains("weir top") && lines[0].contains("1000 functions") && lines[0].contains("01:02:03"));
        assert!(lines[1].contains("concurrency 250/1000"), "{}", lines[1]);
        assert!(text.contains("FUNCTION") && text.contains("P99") && text.contains("CONCURRENCY (60 s)"));
        // Sorted by concurrency (6 is the highest), then by invocations/s.
        let first_row = lines.iter().position(|l| l.contains("fn-")).unwrap();
        assert!(lines[first_row].contains("fn-0993"), "{}", lines[first_row]);
        assert!(lines[first_row].contains("12.3ms") && lines[first_row].contains("250.0ms"));
        assert!(text.contains("jobs") && text.contains("4.50s"), "{text}");
        assert!(text.contains(" functions 1-"), "{text}");
    }

    #[test]
    fn scrolling_and_sorting_move_the_window_over_1000_rows() {
        let mut view = View::new("e", SortKey::Name);
        view.update(summary(1000));
        assert_eq!(view.visible(1).next().unwrap().name, "fn-0000");
        view.scroll(500);
        assert_eq!(view.visible(1).next().unwrap().name, "fn-0500");
        view.scroll(isize::MAX);
        assert_eq!(view.visible(5).count(), 1, "the last row");
        view.scroll(-2000);
        assert_eq!(view.offset, 0);
        view.sort = SortKey::Throttles;
        view.resort();
        assert_eq!(view.visible(1).next().unwrap().name, "fn-0000", "the throttled function first");
        let lines = screen(&view, 160, 30);
        let row = lines.iter().find(|l| l.contains("fn-0000")).unwrap();
        assert!(row.contains(" 5 "), "reserved 5: {row}");
        assert!(row.contains("2.0"), "2 reserved throttles/s: {row}");
    }

    #[test]
    fn plain_text_has_one_line_per_row_and_the_sparkline() {
        let mut view = View::new("e", SortKey::Concurrency);
        view.update(summary(30));
        let text = render_text(&view, 10);
        assert!(text.contains("account [##########"), "{text}");
        assert!(text.contains("… 20 more functions"));
        let row = text.lines().find(|l| l.starts_with("fn-0006")).unwrap();
        assert!(row.ends_with(" ▁▂▃▄▅▆▇█"), "{row}");
        assert!(text.lines().any(|l| l.starts_with("jobs") && l.contains("12") && l.contains("4.50s")));
    }
}
