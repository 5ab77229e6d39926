//! The `tracing` feature: the runtime's reports as events, and a span per task poll,
//! seen by a subscriber (a minimal capturing one, so no other crate is needed).

mod support;

use ringio::runtime::{Builder, Driver};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

type Fields = HashMap<String, String>;

/// One event as the subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    level: Level,
    fields: Fields,
    /// The innermost entered span: its name and fields.
    span: Option<(String, Fields)>,
}

#[derive(Default)]
struct Capture {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, (String, Fields)>>,
    stack: Mutex<Vec<u64>>,
    events: Mutex<Vec<Seen>>,
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.spans.lock().unwrap().insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        let span = self
            .stack
            .lock()
            .unwrap()
            .last()
            .and_then(|id| self.spans.lock().unwrap().get(id).cloned());
        self.events.lock().unwrap().push(Seen {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
            span,
        });
    }
    fn enter(&self, id: &Id) {
        self.stack.lock().unwrap().push(id.into_u64());
    }
    fn exit(&self, id: &Id) {
        let mut stack = self.stack.lock().unwrap();
        if let Some(pos) = stack.iter().rposition(|s| *s == id.into_u64()) {
            stack.remove(pos);
        }
    }
}

/// Runs `f` with a capturing subscriber as this thread's default; returns what it saw.
fn capture(f: impl FnOnce()) -> Vec<Seen> {
    let sub = Arc::new(Capture::default());
    tracing::subscriber::with_default(sub.clone(), f);
    let seen = sub.events.lock().unwrap().clone();
    seen
}

/// A detached task's panic reaches the subscriber as an ERROR event with the task's
/// name and the panic, not a line on standard error.
fn unobserved_panic_is_an_error_event(d: Driver) {
    let seen = capture(|| {
        support::rt(d).block_on(async {
            drop(ringio::task::spawn_named("doomed", async {
                panic!("kaboom")
            }));
            ringio::time::sleep(Duration::from_millis(10)).await;
        });
    });
    let e = seen
        .iter()
        .find(|e| e.target == "ringio" && e.level == Level::ERROR)
        .unwrap_or_else(|| panic!("no error event in {seen:?}"));
    assert_eq!(
        e.fields.get("task_name").map(String::as_str),
        Some("doomed")
    );
    assert_eq!(e.fields.get("panic").map(String::as_str), Some("kaboom"));
    assert_eq!(
        e.fields.get("kind").map(String::as_str),
        Some("DetachedTask")
    );
    assert!(
        e.fields["message"].contains("detached task panicked"),
        "{e:?}"
    );
}

/// Debug mode's slow poll is a WARN event with how long it took.
fn slow_poll_is_a_warn_event(d: Driver) {
    let seen = capture(|| {
        let rt = Builder::new()
            .driver(d)
            .debug(true)
            .slow_poll_threshold(Duration::from_millis(5))
            .build()
            .unwrap();
        rt.block_on(async {
            ringio::task::spawn_named("blocker", async {
                std::thread::sleep(Duration::from_millis(30));
            })
            .await
            .unwrap();
        });
    });
    let e = seen
        .iter()
        .find(|e| e.target == "ringio" && e.fields.contains_key("took_ms"))
        .unwrap_or_else(|| panic!("no slow-poll event in {seen:?}"));
    assert_eq!(e.level, Level::WARN);
    assert_eq!(
        e.fields.get("task_name").map(String::as_str),
        Some("blocker")
    );
    let took: f64 = e.fields["took_ms"].parse().unwrap();
    assert!(took >= 5.0, "{took}");
}

/// Every poll of a task runs in a `task` span naming it: an event the task emits
/// carries the task's id, name and worker.
fn each_poll_is_in_a_task_span(d: Driver) {
    let seen = capture(|| {
        support::rt(d).block_on(async {
            let h = ringio::task::spawn_named("spanned", async {
                ringio::task::yield_now().await;
                tracing::info!(target: "app", "inside");
                ringio::task::current().unwrap().id().as_u64()
            });
            let id = h.await.unwrap();
            tracing::info!(target: "app", expected_id = id, "outside");
        });
    });
    let inside = seen
        .iter()
        .find(|e| e.fields.get("message").map(String::as_str) == Some("inside"))
        .unwrap();
    let outside = seen
        .iter()
        .find(|e| e.fields.get("message").map(String::as_str) == Some("outside"))
        .unwrap();
    let (name, fields) = inside
        .span
        .clone()
        .expect("the task's event is inside a span");
    assert_eq!(name, "task");
    assert_eq!(fields.get("name").map(String::as_str), Some("spanned"));
    assert_eq!(fields.get("worker").map(String::as_str), Some("0"));
    assert_eq!(fields.get("id"), outside.fields.get("expected_id"));
    assert!(
        outside.span.is_none(),
        "block_on's own future is not a task span"
    );
}

both_drivers!(
    unobserved_panic_is_an_error_event,
    slow_poll_is_a_warn_event,
    each_poll_is_in_a_task_span,
);
