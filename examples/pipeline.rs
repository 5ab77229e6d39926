//! A shell pipeline made of ringio children: each stage's stdout is the next stage's
//! stdin, with no shell in between, and input can be fed from Rust.
//!
//! ```text
//! cargo run --example pipeline -- ring
//! # printf 'ringio\nio_uring\nepoll\nring buffer\n' | grep ring | wc -l  =>  3
//! ```
//!
//! [`run`] wires the stages together with `Stdio::try_from(ChildStdout)`, writes the
//! input into the first stage from a task while the last stage's output is collected
//! with `communicate`, then reaps every stage. [`grep_lines`] streams the other way:
//! a `StreamWriter` feeds `grep` while a `StreamReader` reads its matches line by line.

use ringio::io::{StreamReader, StreamWriter};
use ringio::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::io;

/// What a pipeline left: the last stage's stdout and every stage's status, in order.
#[derive(Debug)]
pub struct PipelineOutput {
    /// The last stage's standard output.
    pub stdout: Vec<u8>,
    /// Each stage's exit status, first stage first.
    pub statuses: Vec<ExitStatus>,
}

/// A task that writes `input` into a child's stdin through a `StreamWriter`, then
/// closes it so the child reads end of file.
fn feed(stdin: ChildStdin, input: Vec<u8>) -> ringio::JoinHandle<io::Result<()>> {
    ringio::spawn(async move {
        let mut writer = StreamWriter::new(stdin);
        writer.write_all(&input).await?;
        writer.close();
        writer.wait_closed().await
    })
}

/// Runs `stages` (each a program and its arguments) as `a | b | c`, with `input` (if
/// any) as the first stage's stdin.
pub async fn run(stages: &[&[&str]], input: Option<Vec<u8>>) -> io::Result<PipelineOutput> {
    let mut children: Vec<Child> = Vec::with_capacity(stages.len());
    for (i, stage) in stages.iter().enumerate() {
        let (program, args) = stage
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "an empty stage"))?;
        let mut cmd = Command::new(program);
        cmd.args(args.iter().copied());
        match children.last_mut() {
            // The previous stage's stdout becomes this one's stdin.
            Some(prev) => {
                let out = prev
                    .stdout
                    .take()
                    .expect("every stage but the last is piped");
                cmd.stdin(Stdio::try_from(out)?);
            }
            None if input.is_some() => {
                cmd.stdin(Stdio::piped());
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        cmd.stdout(Stdio::piped());
        if i + 1 < stages.len() {
            cmd.stderr(Stdio::inherit());
        }
        children.push(cmd.spawn()?);
    }
    // Feed the first stage from a task, so the last one's output is read meanwhile (a
    // pipeline whose input and output both pass a pipe's 64 KiB would deadlock if they
    // took turns).
    let feeder = match (input, children.first_mut().and_then(|c| c.stdin.take())) {
        (Some(input), Some(stdin)) => Some(feed(stdin, input)),
        _ => None,
    };
    let last = children.last_mut().expect("at least one stage");
    let output = last.communicate(None).await?;
    if let Some(feeder) = feeder {
        match feeder.await.map_err(io::Error::other)? {
            // The first stage stopped reading early (`head`): not an error here.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
    }
    let mut statuses = Vec::with_capacity(children.len());
    for child in &mut children {
        statuses.push(child.wait().await?);
    }
    Ok(PipelineOutput {
        stdout: output.stdout,
        statuses,
    })
}

/// The lines of `input` that contain `pattern`, found by `grep` and read back line by
/// line as it prints them.
pub async fn grep_lines(input: Vec<u8>, pattern: &str) -> io::Result<Vec<String>> {
    let mut child = Command::new("grep")
        .arg("--")
        .arg(pattern)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let feeder = feed(child.stdin.take().expect("piped"), input);
    let mut reader = StreamReader::new(child.stdout.take().expect("piped"));
    let mut lines = Vec::new();
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            break;
        }
        lines.push(String::from_utf8_lossy(&line).trim_end().to_owned());
    }
    feeder.await.map_err(io::Error::other)??;
    let status = child.wait().await?;
    // grep exits with 1 when nothing matched.
    if !status.success() && status.code() != Some(1) {
        return Err(io::Error::other(format!("grep failed: {status}")));
    }
    Ok(lines)
}

fn main() {
    let pattern = std::env::args().nth(1).unwrap_or_else(|| "ring".into());
    let rt = ringio::Runtime::new().expect("runtime");
    println!("pipeline: {}", rt.driver_info());
    let text = "ringio\nio_uring\nepoll\nring buffer\n";
    let out = rt
        .block_on(run(
            &[&["printf", text], &["grep", "--", &pattern], &["wc", "-l"]],
            None,
        ))
        .expect("pipeline");
    println!(
        "printf ... | grep {pattern} | wc -l  =>  {}  ({:?})",
        String::from_utf8_lossy(&out.stdout).trim(),
        out.statuses
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    let lines = rt
        .block_on(grep_lines(text.as_bytes().to_vec(), &pattern))
        .expect("grep");
    println!("grep {pattern}: {lines:?}");
}
