//! Property test of the wheel against an oracle: random inserts (overdue, near, far,
//! past the epoch, at the end of time), random cancels of pending and fired timers,
//! random advances (small steps, jumps, to the next expiration, just short of the
//! earliest deadline). After every advance the fired set is the oracle's due set,
//! and the firing order never goes back in time: timers fire in order of their
//! effective deadline (the deadline, or the tick of the insert for one inserted
//! overdue, which fires on the next advance). Equal deadlines may fire in any order.
//!
//! `PROPTEST_CASES` sets the case count (default 128).

use super::{TimerKey, Wheel};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// Shared record of the timer ids woken, in wake order.
type Log = Arc<Mutex<Vec<u64>>>;

struct Tag {
    id: u64,
    log: Log,
}

impl Wake for Tag {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A timer at a deadline of shape `kind` from the raw value.
    Insert(u8, u64),
    /// Remove the `n`th (mod count) pending timer.
    CancelPending(usize),
    /// Remove the `n`th (mod count) fired timer.
    CancelFired(usize),
    /// Advance to a time of shape `kind` from the raw value.
    Advance(u8, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..7, any::<u64>()).prop_map(|(k, r)| Op::Insert(k, r)),
        1 => any::<usize>().prop_map(Op::CancelPending),
        1 => any::<usize>().prop_map(Op::CancelFired),
        4 => (0u8..8, any::<u64>()).prop_map(|(k, r)| Op::Advance(k, r)),
    ]
}

fn deadline(kind: u8, raw: u64, elapsed: u64) -> u64 {
    match kind {
        0 => elapsed.saturating_sub(raw % 100),
        1 => elapsed.saturating_add(raw % 64),
        2 => elapsed.saturating_add(raw % (1 << 20)),
        3 => elapsed.saturating_add(raw % (1 << 42)),
        4 => elapsed.saturating_add((raw % (1 << 36)) | (1 << 36)),
        5 => raw,
        _ => u64::MAX - raw % 1000,
    }
}

fn run(start: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let log = Log::default();
    let mut fired = Vec::new();
    let mut wheel = Wheel::new();
    wheel.advance(start, &mut fired);
    // Pending timers by (effective deadline, id): the oracle.
    let mut pending = BTreeMap::<(u64, u64), TimerKey>::new();
    let mut done = Vec::<TimerKey>::new();
    for (id, op) in ops.iter().enumerate() {
        let id = id as u64;
        let elapsed = wheel.elapsed();
        match *op {
            Op::Insert(kind, raw) => {
                let when = deadline(kind, raw, elapsed);
                let waker = Waker::from(Arc::new(Tag {
                    id,
                    log: log.clone(),
                }));
                pending.insert((when.max(elapsed), id), wheel.insert(when, waker));
            }
            Op::CancelPending(n) if !pending.is_empty() => {
                let item = *pending.keys().nth(n % pending.len()).unwrap();
                wheel.remove(pending.remove(&item).unwrap());
            }
            Op::CancelFired(n) if !done.is_empty() => {
                wheel.remove(done.swap_remove(n % done.len()));
            }
            Op::CancelPending(_) | Op::CancelFired(_) => {}
            Op::Advance(kind, raw) => {
                let earliest = pending.keys().next().map(|&(when, _)| when);
                let now = match kind {
                    0 => elapsed.saturating_add(raw % 4),
                    1 => elapsed.saturating_add(raw % (1 << 12)),
                    2 => elapsed.saturating_add(raw % (1 << 38)),
                    3 => wheel.next_expiration().unwrap_or(elapsed),
                    4 => earliest.unwrap_or(elapsed).saturating_sub(1),
                    5 => earliest.unwrap_or(elapsed),
                    6 => elapsed.saturating_sub(raw % 10),
                    _ => raw,
                };
                let now_eff = now.max(elapsed);
                let count = wheel.advance(now, &mut fired);
                prop_assert_eq!(count, fired.len());
                fired.drain(..).for_each(Waker::wake);
                let order = std::mem::take(&mut *log.lock().unwrap());
                let due: Vec<(u64, u64)> = pending
                    .range(..=(now_eff, u64::MAX))
                    .map(|(&k, _)| k)
                    .collect();
                // The fired set is the oracle's due set.
                let mut got = order.clone();
                got.sort_unstable();
                let mut want: Vec<u64> = due.iter().map(|&(_, id)| id).collect();
                want.sort_unstable();
                prop_assert_eq!(&got, &want, "step {}: fired set", id);
                // The order never goes back in time.
                let when_of: BTreeMap<u64, u64> = due.iter().map(|&(w, id)| (id, w)).collect();
                let whens: Vec<u64> = order.iter().map(|id| when_of[id]).collect();
                prop_assert!(
                    whens.windows(2).all(|w| w[0] <= w[1]),
                    "step {}: fired out of deadline order: {:?}",
                    id,
                    whens
                );
                for item in due {
                    let key = pending.remove(&item).unwrap();
                    prop_assert!(wheel.is_fired(key));
                    done.push(key);
                }
                prop_assert_eq!(wheel.elapsed(), now_eff);
            }
        }
        prop_assert_eq!(wheel.len(), pending.len() + done.len());
        let elapsed = wheel.elapsed();
        match (wheel.next_expiration(), pending.keys().next()) {
            (None, None) => {}
            (Some(next), Some(&(when, _))) => prop_assert!(
                next >= elapsed && next <= when.max(elapsed),
                "step {}: next expiration {} outside [{}, {}]",
                id,
                next,
                elapsed,
                when
            ),
            other => prop_assert!(false, "step {}: {:?}", id, other),
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prop_wheel_matches_oracle(ops in proptest::collection::vec(op(), 1..400)) {
        run(0, &ops)?;
    }

    #[test]
    fn prop_wheel_matches_oracle_near_end_of_time(
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        run(u64::MAX - (1 << 40), &ops)?;
    }
}
