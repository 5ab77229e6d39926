//! Summaries and output: medians across rounds, ratios to the best peer, the markdown
//! table, CSV files and a hand-written SVG chart.
//!
//! Medians, not means: on a shared, noisy machine one round hit by a neighbour's build
//! would drag a mean; the median of interleaved rounds ignores it. The min–max range is
//! reported next to it so the noise stays visible. "Best peer" is the best of the
//! non-ringio servers in the same cell (highest msgs/s; lowest CPU per message), so a
//! ratio above 1 for msgs/s, or below 1 for CPU, means ringio beats every peer there.
//!
//! Every server, peers included, is also divided by `raw-uring`, the hand-written
//! io_uring loop with no runtime, when it ran: "x of raw" reads how close a runtime gets
//! to the limit (msgs/s at most about 1, CPU per message at least about 1). The baseline
//! is never a "best peer".

use crate::server::ServerKind;
use std::fmt::Write as _;

/// One measured run: one server, one cell, one round.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// Round number, from 1.
    pub round: usize,
    /// The server.
    pub server: ServerKind,
    /// Connections.
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Round trips completed in the window.
    pub messages: u64,
    /// Length of the measured window in seconds.
    pub window_s: f64,
    /// Round trips per second.
    pub msgs_per_s: f64,
    /// Median round trip in µs.
    pub p50_us: f64,
    /// 99th percentile round trip in µs.
    pub p99_us: f64,
    /// Server CPU time (user + system) in the window, seconds.
    pub server_cpu_s: f64,
    /// Server CPU µs per round trip.
    pub cpu_us_per_msg: f64,
    /// Server CPU time as a share of the CPUs its threads could use, in %.
    pub server_busy_pct: f64,
    /// Load client CPU time as a share of the CPUs its threads could use, in %. Near 100
    /// means the client, not the server, set the pace.
    pub client_busy_pct: f64,
    /// CPU time of other processes (and hypervisor steal) on the benchmark's CPUs, as a
    /// share of them, in %: how much the run was disturbed.
    pub other_pct: f64,
}

/// Medians over rounds for one server in one cell.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The server.
    pub server: ServerKind,
    /// Connections.
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Rounds that went into the medians.
    pub rounds: usize,
    /// Median msgs/s.
    pub msgs_per_s: f64,
    /// Lowest msgs/s of any round.
    pub msgs_min: f64,
    /// Highest msgs/s of any round.
    pub msgs_max: f64,
    /// Median p50, µs.
    pub p50_us: f64,
    /// Median p99, µs.
    pub p99_us: f64,
    /// Median server CPU µs per message.
    pub cpu_us_per_msg: f64,
    /// Lowest CPU µs per message of any round.
    pub cpu_min: f64,
    /// Highest CPU µs per message of any round.
    pub cpu_max: f64,
    /// Median server busy %.
    pub server_busy_pct: f64,
    /// Median client busy %.
    pub client_busy_pct: f64,
    /// msgs/s divided by the best peer's, and that peer.
    pub msgs_vs_peer: Option<(f64, ServerKind)>,
    /// CPU per message divided by the best (lowest) peer's, and that peer.
    pub cpu_vs_peer: Option<(f64, ServerKind)>,
    /// msgs/s and CPU per message divided by `raw-uring`'s in the same cell, if it ran.
    pub vs_raw: Option<(f64, f64)>,
}

/// The median of `v` (mean of the middle two for an even count); 0 if empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Medians per (cell, server), in cell order then [`ServerKind::ALL`] order, with ratios.
pub fn summarize(
    records: &[RunRecord],
    cells: &[(usize, usize)],
    servers: &[ServerKind],
) -> Vec<Summary> {
    let mut out = Vec::new();
    for &(conns, size) in cells {
        let mut cell: Vec<Summary> = Vec::new();
        for &server in servers {
            let rs: Vec<&RunRecord> = records
                .iter()
                .filter(|r| r.server == server && r.conns == conns && r.size == size)
                .collect();
            if rs.is_empty() {
                continue;
            }
            let col = |f: fn(&RunRecord) -> f64| rs.iter().map(|r| f(r)).collect::<Vec<_>>();
            let msgs = col(|r| r.msgs_per_s);
            let cpu = col(|r| r.cpu_us_per_msg);
            cell.push(Summary {
                server,
                conns,
                size,
                rounds: rs.len(),
                msgs_per_s: median(&msgs),
                msgs_min: msgs.iter().copied().fold(f64::INFINITY, f64::min),
                msgs_max: msgs.iter().copied().fold(0.0, f64::max),
                p50_us: median(&col(|r| r.p50_us)),
                p99_us: median(&col(|r| r.p99_us)),
                cpu_us_per_msg: median(&cpu),
                cpu_min: cpu.iter().copied().fold(f64::INFINITY, f64::min),
                cpu_max: cpu.iter().copied().fold(0.0, f64::max),
                server_busy_pct: median(&col(|r| r.server_busy_pct)),
                client_busy_pct: median(&col(|r| r.client_busy_pct)),
                msgs_vs_peer: None,
                cpu_vs_peer: None,
                vs_raw: None,
            });
        }
        let peers: Vec<Summary> = cell
            .iter()
            .filter(|s| !s.server.is_ringio() && !s.server.is_baseline())
            .cloned()
            .collect();
        let best_msgs = peers
            .iter()
            .max_by(|a, b| a.msgs_per_s.total_cmp(&b.msgs_per_s));
        let best_cpu = peers
            .iter()
            .filter(|s| s.cpu_us_per_msg > 0.0)
            .min_by(|a, b| a.cpu_us_per_msg.total_cmp(&b.cpu_us_per_msg));
        let raw = cell
            .iter()
            .find(|s| s.server.is_baseline())
            .map(|r| (r.msgs_per_s, r.cpu_us_per_msg));
        for s in &mut cell {
            if let Some((msgs, cpu)) = raw.filter(|&(m, c)| m > 0.0 && c > 0.0) {
                s.vs_raw = Some((s.msgs_per_s / msgs, s.cpu_us_per_msg / cpu));
            }
            if let Some(b) = best_msgs.filter(|b| b.msgs_per_s > 0.0) {
                s.msgs_vs_peer = Some((s.msgs_per_s / b.msgs_per_s, b.server));
            }
            if let Some(b) = best_cpu {
                s.cpu_vs_peer = Some((s.cpu_us_per_msg / b.cpu_us_per_msg, b.server));
            }
        }
        out.extend(cell);
    }
    out
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A ratio cell: `1.03` for peers, `1.03 (vs monoio)` on ringio rows.
fn ratio_cell(s: &Summary, r: Option<(f64, ServerKind)>) -> String {
    match r {
        None => "–".into(),
        Some((x, peer)) if s.server.is_ringio() => format!("**{x:.2}** (vs {})", peer.name()),
        Some((x, _)) => format!("{x:.2}"),
    }
}

/// The "x of raw" cell: msgs/s and CPU per message over `raw-uring`'s.
fn raw_cell(s: &Summary) -> String {
    match s.vs_raw {
        None => "–".into(),
        Some((msgs, cpu)) => format!("{msgs:.2} / {cpu:.2}"),
    }
}

/// The markdown table of summaries.
pub fn markdown_table(sums: &[Summary]) -> String {
    let mut t = String::new();
    t.push_str(
        "| conns | size | server | msgs/s (median) | msgs/s min–max | p50 µs | p99 µs | CPU µs/msg | busy % server / client | msgs/s ÷ best peer | CPU/msg ÷ best peer | x of raw (msgs/s / CPU) |\n\
         |---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in sums {
        let _ = writeln!(
            t,
            "| {} | {} B | {} | {} | {}–{} | {:.1} | {:.1} | {:.2} | {:.0} / {:.0} | {} | {} | {} |",
            s.conns,
            s.size,
            s.server.name(),
            thousands(s.msgs_per_s),
            thousands(s.msgs_min),
            thousands(s.msgs_max),
            s.p50_us,
            s.p99_us,
            s.cpu_us_per_msg,
            s.server_busy_pct,
            s.client_busy_pct,
            ratio_cell(s, s.msgs_vs_peer),
            ratio_cell(s, s.cpu_vs_peer),
            raw_cell(s),
        );
    }
    t
}

/// CSV of every run.
pub fn runs_csv(records: &[RunRecord]) -> String {
    let mut t = String::from(
        "round,server,connections,size,messages,window_s,msgs_per_s,p50_us,p99_us,server_cpu_s,cpu_us_per_msg,server_busy_pct,client_busy_pct,other_pct\n",
    );
    for r in records {
        let _ = writeln!(
            t,
            "{},{},{},{},{},{:.4},{:.1},{:.2},{:.2},{:.4},{:.4},{:.1},{:.1},{:.1}",
            r.round,
            r.server.name(),
            r.conns,
            r.size,
            r.messages,
            r.window_s,
            r.msgs_per_s,
            r.p50_us,
            r.p99_us,
            r.server_cpu_s,
            r.cpu_us_per_msg,
            r.server_busy_pct,
            r.client_busy_pct,
            r.other_pct
        );
    }
    t
}

/// CSV of the medians and ratios.
pub fn summary_csv(sums: &[Summary]) -> String {
    let mut t = String::from(
        "connections,size,server,rounds,msgs_per_s,msgs_min,msgs_max,p50_us,p99_us,cpu_us_per_msg,cpu_min,cpu_max,server_busy_pct,client_busy_pct,\
         msgs_vs_best_peer,best_peer_msgs,cpu_vs_best_peer,best_peer_cpu,msgs_vs_raw,cpu_vs_raw\n",
    );
    let ratio = |r: Option<(f64, ServerKind)>| match r {
        Some((x, p)) => (format!("{x:.4}"), p.name()),
        None => (String::new(), ""),
    };
    for s in sums {
        let (mr, mp) = ratio(s.msgs_vs_peer);
        let (cr, cp) = ratio(s.cpu_vs_peer);
        let (rm, rc) = match s.vs_raw {
            Some((m, c)) => (format!("{m:.4}"), format!("{c:.4}")),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            t,
            "{},{},{},{},{:.1},{:.1},{:.1},{:.2},{:.2},{:.4},{:.4},{:.4},{:.1},{:.1},{mr},{mp},{cr},{cp},{rm},{rc}",
            s.conns,
            s.size,
            s.server.name(),
            s.rounds,
            s.msgs_per_s,
            s.msgs_min,
            s.msgs_max,
            s.p50_us,
            s.p99_us,
            s.cpu_us_per_msg,
            s.cpu_min,
            s.cpu_max,
            s.server_busy_pct,
            s.client_busy_pct
        );
    }
    t
}

/// Colour of each server's bars.
fn colour(k: ServerKind) -> &'static str {
    match k {
        ServerKind::RingioUring => "#c0392b",
        ServerKind::RingioEpoll => "#f1948a",
        ServerKind::RingioUringBusy => "#7b241c",
        ServerKind::TokioCt => "#1f5fa8",
        ServerKind::TokioMt => "#8fb8e6",
        ServerKind::Monoio => "#2e8b3e",
        ServerKind::RawUring => "#7f7f7f",
    }
}

/// A round step near `range / 5`: 1, 2 or 5 times a power of ten.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// A compact tick label.
fn tick_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// A number without trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Estimated width in pixels of `text` in a sans-serif font of `size` pixels (bold when
/// `bold`): SVG cannot measure text before it is drawn, so the layout uses an average
/// advance generous enough for DejaVu Sans and Helvetica.
fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    let per_char = if bold { 0.64 } else { 0.58 };
    text.chars().count() as f64 * size * per_char
}

/// One row of `cost-per-msg.csv`, written by `ci/cost-per-msg.sh`.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    /// The server's name, as in [`ServerKind::name`].
    pub server: String,
    /// User-space instructions per echoed message (callgrind, all threads).
    pub instructions_per_msg: f64,
    /// System calls per echoed message (strace -f -c).
    pub syscalls_per_msg: f64,
}

/// One row of `idle-rss.csv`, written by `ci/idle-rss.sh`.
#[derive(Clone, Debug, PartialEq)]
pub struct IdleRow {
    /// The server's name, as in [`ServerKind::name`].
    pub server: String,
    /// Server RSS growth per idle connection, KiB.
    pub kib_per_conn: f64,
}

/// A file the chart reads if present, with a line on how it was measured, or why it
/// is absent and which command makes it.
#[derive(Clone, Debug)]
pub struct Sidecar<T> {
    /// The rows, empty when the file is absent or unreadable.
    pub rows: Vec<T>,
    /// How the rows were measured, or why there are none.
    pub note: String,
}

/// The deterministic costs measured outside the benchmark, for the chart's cost panel.
#[derive(Clone, Debug)]
pub struct Extras {
    /// From `cost-per-msg.csv`.
    pub costs: Sidecar<CostRow>,
    /// From `idle-rss.csv`.
    pub idle: Sidecar<IdleRow>,
}

/// Parses a CSV with a header line into maps from column name to value. The scripts
/// write no quoted fields and no commas inside fields.
fn parse_csv(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    lines
        .map(|l| {
            names
                .iter()
                .zip(l.split(','))
                .map(|(n, v)| (n.to_string(), v.trim().to_string()))
                .collect()
        })
        .collect()
}

/// Reads `dir/name` with `row` for each record; the note says how it was measured (from
/// its `connections`, `size`, `tree` and `date` columns) or, when the file is absent or
/// has no usable row, that `command` makes it.
fn read_sidecar<T>(
    dir: &std::path::Path,
    name: &str,
    command: &str,
    what: &str,
    row: impl Fn(&std::collections::HashMap<String, String>) -> Option<T>,
) -> Sidecar<T> {
    let path = dir.join(name);
    let missing = |why: &str| Sidecar {
        rows: Vec::new(),
        note: format!(
            "{what}: {why}; `ECHO_BENCH_DIR={} {command}` makes {name} (about a minute)",
            dir.display()
        ),
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return missing("not measured");
    };
    let recs = parse_csv(&text);
    let rows: Vec<T> = recs.iter().filter_map(&row).collect();
    if rows.is_empty() {
        return missing("no usable row in the file");
    }
    let first = &recs[0];
    let get = |k: &str| first.get(k).map(String::as_str).unwrap_or("?");
    Sidecar {
        rows,
        note: format!(
            "{what}: {command}, {} conns x {} B, tree {}, {}",
            get("connections"),
            get("size"),
            get("tree"),
            get("date")
        ),
    }
}

/// Reads `cost-per-msg.csv` and `idle-rss.csv` from `dir` (the benchmark's output
/// directory, where `ci/cost-per-msg.sh` and `ci/idle-rss.sh` write them).
pub fn load_extras(dir: &std::path::Path) -> Extras {
    let num = |m: &std::collections::HashMap<String, String>, k: &str| -> Option<f64> {
        m.get(k)?.parse().ok().filter(|v: &f64| v.is_finite())
    };
    Extras {
        costs: read_sidecar(
            dir,
            "cost-per-msg.csv",
            "ci/cost-per-msg.sh",
            "instructions and syscalls per message",
            |m| {
                Some(CostRow {
                    server: m.get("server")?.clone(),
                    instructions_per_msg: num(m, "instructions_per_msg")?,
                    syscalls_per_msg: num(m, "syscalls_per_msg")?,
                })
            },
        ),
        idle: read_sidecar(
            dir,
            "idle-rss.csv",
            "ci/idle-rss.sh",
            "idle memory per connection",
            |m| {
                Some(IdleRow {
                    server: m.get("server")?.clone(),
                    kib_per_conn: num(m, "kib_per_conn")?,
                })
            },
        ),
    }
}

/// One line per cell on how ringio fared in msgs/s against every peer and the
/// no-runtime baseline, e.g. `256x64: ringio-uring 1.02x tokio-ct, 0.98x monoio, 0.97x
/// raw-uring in msgs/s: below monoio by 2% (ranges overlap); CPU/msg 0.91x the best
/// peer's (monoio)`. The ringio server judged is `ringio-uring` when it ran, else the
/// first ringio server that did. A ratio that rounds to 1.00 counts as "at".
pub fn verdicts(sums: &[Summary], cells: &[(usize, usize)]) -> Vec<String> {
    let mut out = Vec::new();
    for &(conns, size) in cells {
        let cell: Vec<&Summary> = sums
            .iter()
            .filter(|s| s.conns == conns && s.size == size)
            .collect();
        let Some(me) = cell
            .iter()
            .find(|s| s.server == ServerKind::RingioUring)
            .or_else(|| cell.iter().find(|s| s.server.is_ringio()))
        else {
            continue;
        };
        let peers: Vec<&&Summary> = cell
            .iter()
            .filter(|s| !s.server.is_ringio() && !s.server.is_baseline())
            .collect();
        let ratio = |o: &Summary| {
            if o.msgs_per_s > 0.0 {
                me.msgs_per_s / o.msgs_per_s
            } else {
                f64::INFINITY
            }
        };
        let mut parts: Vec<String> = peers
            .iter()
            .chain(
                cell.iter()
                    .filter(|s| s.server.is_baseline())
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .map(|o| format!("{:.2}x {}", ratio(o), o.server.name()))
            .collect();
        if parts.is_empty() {
            parts.push("no other server ran".into());
        }
        let below: Vec<String> = peers
            .iter()
            .filter(|o| ratio(o) < 0.995)
            .map(|o| {
                let overlap = if me.msgs_max >= o.msgs_min {
                    " (ranges overlap)"
                } else {
                    ""
                };
                format!(
                    "{} by {:.0}%{overlap}",
                    o.server.name(),
                    (1.0 - ratio(o)) * 100.0
                )
            })
            .collect();
        let judgement = if peers.is_empty() {
            "no peer ran".to_string()
        } else if below.is_empty() {
            "at or above every peer".to_string()
        } else {
            format!("below {}", below.join(", "))
        };
        let cpu = match me.cpu_vs_peer {
            Some((x, p)) => format!("; CPU/msg {x:.2}x the best peer's ({})", p.name()),
            None => String::new(),
        };
        out.push(format!(
            "{conns}x{size}: {} {} in msgs/s: {judgement}{cpu}",
            me.server.name(),
            parts.join(", ")
        ));
    }
    out
}

/// The chart in SVG, as small multiples: one column per cell, msgs/s (higher is better)
/// in the top row and server CPU µs per message (lower is better) in the bottom row.
/// Each panel has its own y axis from zero, so the 1-connection cells stay readable next
/// to the 256-connection ones. One bar per server, with the min–max range over rounds as
/// a whisker; each bar has a `<title>` with its figures. Below, a panel of per-message
/// costs per server: instructions and syscalls per message and idle memory per
/// connection from `extras` (or a line saying which command measures them), and the
/// server CPU per message of this run. The title is split at " — " into a title and a
/// subtitle, and the picture is made wide enough for every line of text.
pub fn svg_chart(
    sums: &[Summary],
    cells: &[(usize, usize)],
    servers: &[ServerKind],
    title: &str,
    extras: &Extras,
) -> String {
    const PANEL_W: f64 = 190.0;
    const PANEL_H: f64 = 220.0;
    const AXIS: f64 = 48.0; // room for tick labels left of each panel
    const ROW_GAP: f64 = 70.0;
    const MARGIN: f64 = 20.0;
    const COST_NAME_W: f64 = 130.0;
    const COST_COL_W: f64 = 175.0;
    const COST_ROW_H: f64 = 22.0;
    let (head, sub) = match title.split_once(" — ") {
        Some((a, b)) => (a, Some(b)),
        None => (title, None),
    };
    let rounds = sums.iter().map(|x| x.rounds).max().unwrap_or(0);
    let whisker_note = if rounds > 1 {
        format!("whiskers: min–max over {rounds} rounds")
    } else {
        "1 round: no spread to show".to_string()
    };
    let legend_w = |k: ServerKind| 24.0 + text_width(k.name(), 11.0, false);
    let cost_cols = 4.0;
    let notes = [&extras.costs.note, &extras.idle.note];
    let w = [
        MARGIN * 2.0 + cells.len() as f64 * (PANEL_W + AXIS),
        MARGIN * 2.0 + text_width(head, 15.0, true),
        MARGIN * 2.0 + sub.map_or(0.0, |s| text_width(s, 12.0, false)),
        MARGIN * 2.0 + COST_NAME_W + cost_cols * COST_COL_W,
        MARGIN * 2.0 + text_width(&whisker_note, 11.0, false),
    ]
    .into_iter()
    .chain(
        notes
            .iter()
            .map(|n| MARGIN * 2.0 + text_width(n, 11.0, false)),
    )
    .fold(640.0, f64::max)
    .ceil();
    // The legend, wrapped to the width.
    let mut legend = Vec::new(); // (x, row, server)
    let (mut lx, mut lrow) = (MARGIN, 0usize);
    for &k in servers {
        if lx + legend_w(k) > w - MARGIN && lx > MARGIN {
            lx = MARGIN;
            lrow += 1;
        }
        legend.push((lx, lrow, k));
        lx += legend_w(k) + 14.0;
    }
    let note_w = text_width(&whisker_note, 11.0, false);
    let (note_x, note_row) = if lx + note_w > w - MARGIN {
        (MARGIN, lrow + 1)
    } else {
        (lx, lrow)
    };
    let legend_top = if sub.is_some() { 58.0 } else { 40.0 };
    let top0 = legend_top + (note_row as f64 + 1.0) * 18.0 + 40.0;
    let costs_top = top0 + 2.0 * PANEL_H + ROW_GAP + 50.0;
    // Rows of the cost panel: every server that ran or has a cost, in ALL order.
    let cost_servers: Vec<ServerKind> = ServerKind::ALL
        .into_iter()
        .filter(|k| {
            servers.contains(k)
                || extras.costs.rows.iter().any(|r| r.server == k.name())
                || extras.idle.rows.iter().any(|r| r.server == k.name())
        })
        .collect();
    let h = (costs_top + 59.0 + cost_servers.len() as f64 * COST_ROW_H + 2.0 * 16.0 + 16.0).ceil();

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        w / 2.0,
        esc(head)
    );
    if let Some(sub) = sub {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="42" text-anchor="middle" font-size="12" fill="#444">{}</text>"##,
            w / 2.0,
            esc(sub)
        );
    }
    for &(x, row, k) in &legend {
        let y = legend_top + row as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 10.0,
            colour(k),
            x + 16.0,
            y,
            k.name()
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{note_x:.1}" y="{:.1}" fill="#555">{}</text>"##,
        legend_top + note_row as f64 * 18.0,
        esc(&whisker_note)
    );
    type Metric = fn(&Summary) -> (f64, f64, f64);
    let rows: [(&str, Metric, bool); 2] = [
        (
            "msgs/s, median of rounds (higher is better)",
            |x| (x.msgs_per_s, x.msgs_min, x.msgs_max),
            true,
        ),
        (
            "server CPU µs per message, median (lower is better)",
            |x| (x.cpu_us_per_msg, x.cpu_min, x.cpu_max),
            false,
        ),
    ];
    let fmt = |v: f64, rate: bool| {
        if rate {
            thousands(v)
        } else {
            format!("{v:.2}")
        }
    };
    for (r, (label, metric, rate)) in rows.iter().enumerate() {
        let top = top0 + r as f64 * (PANEL_H + ROW_GAP);
        let bottom = top + PANEL_H;
        let _ = writeln!(
            s,
            r#"<text x="{MARGIN}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
            top - 22.0,
            esc(label)
        );
        for (g, &(conns, size)) in cells.iter().enumerate() {
            let left = MARGIN + AXIS + g as f64 * (PANEL_W + AXIS);
            let in_cell: Vec<&Summary> = servers
                .iter()
                .filter_map(|&k| {
                    sums.iter()
                        .find(|x| x.server == k && x.conns == conns && x.size == size)
                })
                .collect();
            let max = in_cell
                .iter()
                .map(|x| metric(x).2)
                .fold(0.0, f64::max)
                .max(1e-9);
            let step = nice_step(max);
            let ymax = (max / step).ceil() * step;
            let y = |v: f64| bottom - v / ymax * PANEL_H;
            let mut t = 0.0;
            while t <= ymax + step * 0.01 {
                let yy = y(t);
                let _ = writeln!(
                    s,
                    r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e3e3"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                    left + PANEL_W,
                    left - 4.0,
                    yy + 4.0,
                    if *rate { tick_label(t) } else { trim(t) }
                );
                t += step;
            }
            let bar_w = PANEL_W * 0.9 / servers.len().max(1) as f64;
            for (b, &k) in servers.iter().enumerate() {
                let Some(x) = in_cell.iter().find(|x| x.server == k) else {
                    continue;
                };
                let (v, lo, hi) = metric(x);
                let bx = left + PANEL_W * 0.05 + b as f64 * bar_w;
                let _ = writeln!(
                    s,
                    r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {conns} conn × {size} B: {} (min {}, max {}, {} rounds)</title></rect>"#,
                    y(v),
                    bar_w * 0.9,
                    (bottom - y(v)).max(0.0),
                    colour(k),
                    k.name(),
                    fmt(v, *rate),
                    fmt(lo, *rate),
                    fmt(hi, *rate),
                    x.rounds,
                );
                if x.rounds > 1 {
                    // The whisker: min to max over rounds, with caps.
                    let cx = bx + bar_w * 0.45;
                    let cap = (bar_w * 0.25).max(2.0);
                    let _ = writeln!(
                        s,
                        r##"<g stroke="#111" stroke-width="1.3"><line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}"/><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/></g>"##,
                        y(lo),
                        y(hi),
                        cx - cap,
                        cx + cap,
                        y(lo),
                        y(lo),
                        cx - cap,
                        cx + cap,
                        y(hi),
                        y(hi)
                    );
                }
            }
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{bottom}" y2="{bottom}" stroke="#333"/><line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="#333"/>"##,
                left + PANEL_W
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{conns} conn × {size} B</text>"#,
                left + PANEL_W / 2.0,
                bottom + 16.0
            );
        }
    }

    // The cost panel: a table with a bar per value, each column scaled to its maximum.
    let cpu_cell = cells
        .iter()
        .copied()
        .find(|&c| c == (256, 64))
        .or_else(|| cells.first().copied());
    let cpu_of = |k: ServerKind| -> Option<f64> {
        let (c, z) = cpu_cell?;
        sums.iter()
            .find(|x| x.server == k && x.conns == c && x.size == z)
            .map(|x| x.cpu_us_per_msg)
    };
    let cost_of = |k: ServerKind| extras.costs.rows.iter().find(|r| r.server == k.name());
    let idle_of = |k: ServerKind| extras.idle.rows.iter().find(|r| r.server == k.name());
    // (header, where it comes from, value, decimals)
    type Col<'a> = (
        &'a str,
        String,
        Box<dyn Fn(ServerKind) -> Option<f64> + 'a>,
        usize,
    );
    let cols: [Col; 4] = [
        (
            "instructions / msg",
            "ci/cost-per-msg.sh".into(),
            Box::new(|k| cost_of(k).map(|r| r.instructions_per_msg)),
            0,
        ),
        (
            "syscalls / msg",
            "ci/cost-per-msg.sh".into(),
            Box::new(|k| cost_of(k).map(|r| r.syscalls_per_msg)),
            3,
        ),
        (
            "server CPU µs / msg",
            match cpu_cell {
                Some((c, z)) => format!("this run, {c} conn × {z} B"),
                None => "this run".into(),
            },
            Box::new(cpu_of),
            2,
        ),
        (
            "idle RSS KiB / conn",
            "ci/idle-rss.sh".into(),
            Box::new(|k| idle_of(k).map(|r| r.kib_per_conn)),
            2,
        ),
    ];
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{:.1}" font-size="13" font-weight="bold">per-message costs and idle memory per connection (lower is better)</text>"#,
        costs_top
    );
    let header_y = costs_top + 24.0;
    for (i, (name, from, _, _)) in cols.iter().enumerate() {
        let x = MARGIN + COST_NAME_W + i as f64 * COST_COL_W;
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{header_y:.1}" font-weight="bold">{}</text><text x="{x:.1}" y="{:.1}" font-size="10" fill="#666">{}</text>"##,
            esc(name),
            header_y + 13.0,
            esc(from)
        );
    }
    let rows_top = header_y + 21.0;
    for (j, &k) in cost_servers.iter().enumerate() {
        let y = rows_top + j as f64 * COST_ROW_H;
        let _ = writeln!(
            s,
            r#"<rect x="{MARGIN}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y + 5.0,
            colour(k),
            MARGIN + 14.0,
            y + 14.0,
            k.name()
        );
        for (i, (_, _, get, decimals)) in cols.iter().enumerate() {
            let x = MARGIN + COST_NAME_W + i as f64 * COST_COL_W;
            let max = cost_servers
                .iter()
                .filter_map(|&k| get(k))
                .fold(0.0, f64::max);
            match get(k) {
                Some(v) => {
                    let bar = if max > 0.0 {
                        (v / max * (COST_COL_W - 80.0)).max(1.0)
                    } else {
                        1.0
                    };
                    let label = if *decimals == 0 {
                        thousands(v)
                    } else {
                        format!("{v:.*}", decimals)
                    };
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{bar:.1}" height="14" fill="{}"/><text x="{:.1}" y="{:.1}">{label}</text>"#,
                        y + 3.0,
                        colour(k),
                        x + bar + 4.0,
                        y + 14.0,
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{x:.1}" y="{:.1}" fill="#999">–</text>"##,
                        y + 14.0
                    );
                }
            }
        }
    }
    let notes_y = rows_top + cost_servers.len() as f64 * COST_ROW_H + 14.0;
    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="{MARGIN}" y="{:.1}" fill="#555">{}</text>"##,
            notes_y + i as f64 * 16.0,
            esc(note)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(server: ServerKind, round: usize, msgs: f64, cpu: f64) -> RunRecord {
        RunRecord {
            round,
            server,
            conns: 16,
            size: 64,
            messages: msgs as u64,
            window_s: 1.0,
            msgs_per_s: msgs,
            p50_us: 10.0,
            p99_us: 20.0,
            server_cpu_s: 1.0,
            cpu_us_per_msg: cpu,
            server_busy_pct: 50.0,
            client_busy_pct: 90.0,
            other_pct: 1.0,
        }
    }

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let recs = vec![
            rec(ServerKind::RingioUring, 1, 120.0, 4.0),
            rec(ServerKind::RingioUring, 2, 100.0, 5.0),
            rec(ServerKind::RingioUring, 3, 110.0, 6.0),
            rec(ServerKind::TokioCt, 1, 100.0, 10.0),
            rec(ServerKind::Monoio, 1, 50.0, 8.0),
            // The baseline is never the best peer, though it beats them all here.
            rec(ServerKind::RawUring, 1, 200.0, 2.5),
        ];
        let servers = [
            ServerKind::RawUring,
            ServerKind::RingioUring,
            ServerKind::TokioCt,
            ServerKind::Monoio,
        ];
        let sums = summarize(&recs, &[(16, 64)], &servers);
        assert_eq!(sums.len(), 4);
        let r = &sums[1];
        assert_eq!(r.msgs_per_s, 110.0);
        assert_eq!(r.msgs_vs_peer, Some((1.1, ServerKind::TokioCt)));
        assert_eq!(r.cpu_vs_peer, Some((5.0 / 8.0, ServerKind::Monoio)));
        assert_eq!(r.vs_raw, Some((110.0 / 200.0, 5.0 / 2.5)));
        assert_eq!(sums[0].vs_raw, Some((1.0, 1.0)));
        assert_eq!(sums[2].vs_raw, Some((0.5, 4.0)));
        let table = markdown_table(&sums);
        assert!(table.contains("| 16 | 64 B | ringio-uring | 110 | 100–120 |"));
        assert!(table.contains("| **1.10** (vs tokio-ct) | **0.62** (vs monoio) | 0.55 / 2.00 |"));
        let dir = std::env::temp_dir().join(format!("echo-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let absent = load_extras(&dir);
        assert!(absent.costs.rows.is_empty() && absent.costs.note.contains("ci/cost-per-msg.sh"));
        assert!(absent.idle.rows.is_empty() && absent.idle.note.contains("ci/idle-rss.sh"));
        std::fs::write(
            dir.join("cost-per-msg.csv"),
            "server,instructions_per_msg,syscalls_per_msg,instructions_vs_raw,connections,messages,size,client,tree,date\n\
             raw-uring,4000,2.000,1.0,256,20,64,rust,abc,2026-01-01\n\
             ringio-uring,9000,1.500,2.3,256,20,64,rust,abc,2026-01-01\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("idle-rss.csv"),
            "server,rss_before_kib,rss_after_kib,server_fds,kib_per_conn,connections,size,tree,date\n\
             ringio-uring,1000,2000,10005,0.10,10000,64,abc,2026-01-01\n",
        )
        .unwrap();
        let extras = load_extras(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(extras.costs.rows.len(), 2);
        assert_eq!(extras.costs.rows[1].instructions_per_msg, 9000.0);
        assert_eq!(extras.idle.rows[0].kib_per_conn, 0.1);
        assert!(extras.costs.note.contains("256 conns x 64 B"));
        let svg = svg_chart(&sums, &[(16, 64)], &servers, "title — subtitle", &extras);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(">title</text>") && svg.contains(">subtitle</text>"));
        assert!(svg.contains(">9,000</text>") && svg.contains(">0.10</text>"));
        // A title far wider than the panels widens the picture.
        let long = "x".repeat(300);
        let wide = svg_chart(&sums, &[(16, 64)], &servers, &long, &absent);
        assert!(wide.contains("width=\"2"));
        let v = verdicts(&sums, &[(16, 64)]);
        assert_eq!(
            v,
            [
                "16x64: ringio-uring 1.10x tokio-ct, 2.20x monoio, 0.55x raw-uring in msgs/s: \
              at or above every peer; CPU/msg 0.62x the best peer's (monoio)"
            ]
        );
        // Below a peer: by how much, and whether the min-max ranges overlap.
        let mut slow = sums.clone();
        slow[2].msgs_per_s = 125.0;
        slow[2].msgs_min = 118.0;
        slow[3].msgs_per_s = 150.0;
        slow[3].msgs_min = 140.0;
        assert_eq!(
            verdicts(&slow, &[(16, 64)]),
            [
                "16x64: ringio-uring 0.88x tokio-ct, 0.73x monoio, 0.55x raw-uring in msgs/s: \
              below tokio-ct by 12% (ranges overlap), monoio by 27%; CPU/msg 0.62x the best \
              peer's (monoio)"
            ]
        );
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(12.0), "12");
    }
}
