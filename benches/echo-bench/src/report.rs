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

/// The chart in SVG, as small multiples: one column per cell, msgs/s (higher is better)
/// in the top row and server CPU µs per message (lower is better) in the bottom row.
/// Each panel has its own y axis from zero, so the 1-connection cells stay readable next
/// to the 256-connection ones. One bar per server, with the min–max range over rounds as
/// a whisker; each bar has a `<title>` with its figures.
pub fn svg_chart(
    sums: &[Summary],
    cells: &[(usize, usize)],
    servers: &[ServerKind],
    title: &str,
) -> String {
    const PANEL_W: f64 = 190.0;
    const PANEL_H: f64 = 220.0;
    const AXIS: f64 = 48.0; // room for tick labels left of each panel
    const TOP: f64 = 90.0;
    const ROW_GAP: f64 = 70.0;
    const MARGIN: f64 = 20.0;
    let w = (MARGIN * 2.0 + cells.len() as f64 * (PANEL_W + AXIS)).max(640.0);
    let h = TOP + 2.0 * PANEL_H + ROW_GAP + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    let mut lx = MARGIN;
    for &k in servers {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="34" width="12" height="12" fill="{}"/><text x="{}" y="44">{}</text>"#,
            colour(k),
            lx + 16.0,
            k.name()
        );
        lx += 30.0 + 7.0 * k.name().len() as f64;
    }
    let _ = writeln!(
        s,
        r##"<text x="{lx}" y="44" fill="#555">whiskers: min–max over rounds</text>"##
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
        let top = TOP + r as f64 * (PANEL_H + ROW_GAP);
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
                    r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {conns} conn × {size} B: {} (min {}, max {})</title></rect>"#,
                    y(v),
                    bar_w * 0.9,
                    (bottom - y(v)).max(0.0),
                    colour(k),
                    k.name(),
                    fmt(v, *rate),
                    fmt(lo, *rate),
                    fmt(hi, *rate),
                );
                let cx = bx + bar_w * 0.45;
                let _ = writeln!(
                    s,
                    r##"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="#222"/>"##,
                    y(lo),
                    y(hi)
                );
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
        let svg = svg_chart(&sums, &[(16, 64)], &servers, "t");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(12.0), "12");
    }
}
