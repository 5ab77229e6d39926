//! The live progress line: which cell, server and round is running, the time spent and
//! an estimate of the time left.
//!
//! With stderr on a terminal it is an `indicatif` bar on stderr, redrawn in place; the
//! per-run result lines go to stdout above it. Without a terminal (CI, a pipe, a file)
//! there is no bar and no control code at all: each run's result line instead ends with
//! the elapsed time and the estimate, so a log still shows how far the benchmark got.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// Progress over a known number of runs of about equal length.
pub struct Progress {
    /// The bar, when stderr is a terminal.
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    started: Instant,
    /// The planned length of one run, for the estimate before the first one ends.
    planned_per_run: Duration,
}

/// `95 s` as `1:35`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

impl Progress {
    /// Starts the clock for `total` runs, each planned to take about `planned_per_run`.
    pub fn new(total: usize, planned_per_run: Duration) -> Progress {
        let term =
            std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        let bar = term.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total as u64),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:24}] {pos}/{len} runs  {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
            started: Instant::now(),
            planned_per_run,
        }
    }

    /// The estimated time left: the runs to go times the mean length of the runs so far
    /// (the planned length before the first one ends), counting the current run as half
    /// done.
    fn left(&self) -> Duration {
        let per_run = if self.done == 0 {
            self.planned_per_run
        } else {
            self.started.elapsed() / self.done as u32
        };
        per_run.mul_f64(self.total.saturating_sub(self.done) as f64)
    }

    /// Shows that a run starts.
    pub fn start_run(&self, round: usize, rounds: usize, conns: usize, size: usize, server: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "round {round}/{rounds}  {conns} conn x {size} B  {server}  ~{} left",
                clock(self.left())
            ));
        }
    }

    /// Counts a run as done.
    pub fn finish_run(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done as u64);
        }
    }

    /// Prints a result line on stdout: above the bar on a terminal, or with the elapsed
    /// time and the estimate appended without one.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{text}")),
            None => println!(
                "{text}  [{} elapsed, ~{} left]",
                clock(self.started.elapsed()),
                clock(self.left())
            ),
        }
    }

    /// Prints a line on stdout without progress figures (above the bar on a terminal).
    pub fn plain(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_estimate() {
        assert_eq!(clock(Duration::from_secs(95)), "1:35");
        assert_eq!(clock(Duration::from_millis(400)), "0:00");
        // Before any run ends, the estimate is the planned length of every run.
        let p = Progress {
            bar: None,
            total: 10,
            done: 0,
            started: Instant::now(),
            planned_per_run: Duration::from_secs(2),
        };
        assert_eq!(p.left(), Duration::from_secs(20));
    }
}
