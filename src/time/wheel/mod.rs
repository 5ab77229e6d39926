//! A hierarchical hashed timer wheel: it maps millisecond deadlines to wakers and fires them.
//!
//! # Implementation
//!
//! Ticks are `u64` milliseconds since the wheel's start. Six [levels](level::Level) of 64
//! slots each cover one *epoch* of 64^6 ticks: a level-`n` slot is `64^n` ticks wide. An
//! entry due after `elapsed` is filed by the highest 6-bit digit in which its deadline
//! differs from `elapsed` (see [`level::level_for`]), so it always lies in a slot strictly
//! after the current one. When that slot's turn comes, its entries are either due (and
//! fire) or refiled on a lower level, so each entry moves at most six times.
//!
//! Entries live in a [`Slab`], and every slot is an intrusive doubly-linked list through
//! slab indices: insert and remove are O(1) and need no allocation beyond the slab. Each
//! level's `occupied` bitmap finds the next non-empty slot with one `trailing_zeros`, so
//! `advance` visits only occupied slots and jumps over empty time, however far.
//!
//! Two lists sit beside the levels. `due` holds entries inserted at or before `elapsed`;
//! they fire on the next `advance` whatever its `now`. `overflow` holds entries in a later
//! epoch than `elapsed`, which the levels cannot express; `overflow_next`, a lower bound on
//! their earliest epoch, tells `advance` when to refile them. It may be stale (too early)
//! after removals, which only costs one early wake-up, never an early firing.

mod level;
#[cfg(all(test, not(loom)))]
mod prop_tests;

use std::task::Waker;

use slab::Slab;

use level::{Expiration, Level, List, EPOCH_BITS, NUM_LEVELS};

/// The timer wheel of one runtime thread; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Wheel {
    /// The last tick that `advance` moved to.
    elapsed: u64,
    /// Level `n` holds entries that differ from `elapsed` first in digit `n`.
    levels: [Level; NUM_LEVELS],
    /// Every entry, pending or fired; a [`TimerKey`] is an index into it.
    entries: Slab<Entry>,
    /// Entries inserted with `when <= elapsed`, to fire on the next `advance`.
    due: List,
    /// Entries in a later epoch than `elapsed`.
    overflow: List,
    /// No later than the start of the earliest epoch on `overflow`; `None` when it is empty.
    overflow_next: Option<u64>,
}

/// Names a timer in its [`Wheel`] until it is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey(usize);

/// One timer, stored in the slab and linked into at most one list.
#[derive(Debug)]
struct Entry {
    /// The tick at which the timer is due.
    when: u64,
    /// The waker to hand out on firing; taken (so `None`) once fired.
    waker: Option<Waker>,
    /// Which list, if any, the entry is linked into.
    place: Place,
    /// Previous entry on the same list.
    prev: Option<usize>,
    /// Next entry on the same list.
    next: Option<usize>,
}

/// Where an entry is, so `remove` can unlink it without searching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// In a slot of a level.
    Level { level: usize, slot: usize },
    /// On the `due` list.
    Due,
    /// On the `overflow` list.
    Overflow,
    /// Fired: on no list, kept until removed so `is_fired` can answer.
    Fired,
}

impl Wheel {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            levels: std::array::from_fn(Level::new),
            entries: Slab::new(),
            due: List::EMPTY,
            overflow: List::EMPTY,
            overflow_next: None,
        }
    }

    /// The last tick that [`advance`](Self::advance) moved to.
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Registers a timer due at tick `when`; one due at or before `elapsed` fires on the
    /// next [`advance`](Self::advance), whatever its `now`.
    pub(crate) fn insert(&mut self, when: u64, waker: Waker) -> TimerKey {
        let key = self.entries.insert(Entry {
            when,
            waker: Some(waker),
            place: Place::Due,
            prev: None,
            next: None,
        });
        if when <= self.elapsed {
            self.due.push(&mut self.entries, key);
        } else {
            self.schedule(key);
        }
        TimerKey(key)
    }

    /// Replaces the stored waker unless it would wake the same task as `waker`. A fired
    /// timer has no waker left, so this does nothing to it.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(stored) = &mut self.entry_mut(key).waker {
            if !stored.will_wake(waker) {
                *stored = waker.clone();
            }
        }
    }

    /// Forgets the timer, pending or fired, in O(1).
    ///
    /// # Panics
    ///
    /// If `key` names no timer in this wheel.
    pub(crate) fn remove(&mut self, key: TimerKey) {
        match self.entry_mut(key).place {
            Place::Level { level, slot } => {
                self.levels[level].unlink(&mut self.entries, key.0, slot)
            }
            Place::Due => self.due.unlink(&mut self.entries, key.0),
            Place::Overflow => {
                self.overflow.unlink(&mut self.entries, key.0);
                if self.overflow.is_empty() {
                    self.overflow_next = None;
                }
            }
            Place::Fired => {}
        }
        self.entries.remove(key.0);
    }

    /// True once [`advance`](Self::advance) has fired the timer.
    ///
    /// # Panics
    ///
    /// If `key` names no timer in this wheel.
    pub(crate) fn is_fired(&self, key: TimerKey) -> bool {
        match self.entries.get(key.0) {
            Some(entry) => entry.place == Place::Fired,
            None => missing(key),
        }
    }

    /// The earliest tick at which [`advance`](Self::advance) could fire something, or
    /// `None` when no timer is pending.
    ///
    /// It is never later than the earliest pending deadline but may be earlier (the start
    /// of a coarse slot, or of an epoch), so callers sleep until it and ask again.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if !self.due.is_empty() {
            return Some(self.elapsed);
        }
        // Every level entry lies in the current epoch, before any overflow entry.
        self.next_level_expiration()
            .map(|exp| exp.deadline)
            .or(self.overflow_next)
    }

    /// Moves time forward to `now` (or stays at `elapsed`, if that is later) and fires
    /// every pending timer due by then: each is marked fired and its waker moved onto
    /// `fired`. Returns how many fired.
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<Waker>) -> usize {
        let now = now.max(self.elapsed);
        let mut count = 0;
        while let Some(key) = self.due.pop(&mut self.entries) {
            self.fire(key, fired);
            count += 1;
        }
        // Each turn empties one occupied slot or the overflow list, so the loop runs once
        // per occupied slot on the way, not once per tick.
        loop {
            if let Some(exp) = self.next_level_expiration().filter(|e| e.deadline <= now) {
                self.elapsed = exp.deadline;
                let list = self.levels[exp.level].take(exp.slot);
                count += self.refile(list, fired);
            } else if let Some(epoch) = self.overflow_next.filter(|&e| e <= now) {
                // The levels are empty here: all their entries were due before `epoch`.
                self.elapsed = epoch;
                self.overflow_next = None;
                let list = std::mem::take(&mut self.overflow);
                count += self.refile(list, fired);
            } else {
                break;
            }
        }
        self.elapsed = now;
        count
    }

    /// Entries held, pending and fired.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry is held, pending or fired.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `key`, or a panic naming it.
    fn entry_mut(&mut self, key: TimerKey) -> &mut Entry {
        match self.entries.get_mut(key.0) {
            Some(entry) => entry,
            None => missing(key),
        }
    }

    /// The earliest occupied slot. The lowest non-empty level has it: entries on lower
    /// levels all lie within the current slot of every level above them.
    fn next_level_expiration(&self) -> Option<Expiration> {
        self.levels
            .iter()
            .find_map(|level| level.next_expiration(self.elapsed))
    }

    /// Links entry `key`, due after `elapsed`, where it belongs relative to `elapsed`.
    fn schedule(&mut self, key: usize) {
        let when = self.entries[key].when;
        let place = if (when ^ self.elapsed) >> EPOCH_BITS != 0 {
            let epoch = when & !((1u64 << EPOCH_BITS) - 1);
            self.overflow_next = Some(self.overflow_next.map_or(epoch, |next| next.min(epoch)));
            self.overflow.push(&mut self.entries, key);
            Place::Overflow
        } else {
            let level = level::level_for(self.elapsed, when);
            let slot = self.levels[level].push(&mut self.entries, key, when);
            Place::Level { level, slot }
        };
        self.entries[key].place = place;
    }

    /// Drains a detached `list`: fires the entries due by `elapsed` and files the rest
    /// closer to their deadlines. Returns how many fired.
    fn refile(&mut self, mut list: List, fired: &mut Vec<Waker>) -> usize {
        let mut count = 0;
        while let Some(key) = list.pop(&mut self.entries) {
            if self.entries[key].when <= self.elapsed {
                self.fire(key, fired);
                count += 1;
            } else {
                self.schedule(key);
            }
        }
        count
    }

    /// Marks the unlinked entry `key` fired and moves its waker onto `fired`.
    fn fire(&mut self, key: usize, fired: &mut Vec<Waker>) {
        let entry = &mut self.entries[key];
        entry.place = Place::Fired;
        fired.extend(entry.waker.take());
    }
}

/// Panics for a key that names no timer; kept out of line as the cold path.
#[cold]
fn missing(key: TimerKey) -> ! {
    panic!("timer wheel: {key:?} names no timer (never inserted, or already removed)")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;
    use std::time::{Duration, Instant};

    use super::*;

    /// Shared record of which timer ids were woken, in wake order.
    type Log = Arc<Mutex<Vec<u64>>>;

    /// A waker payload that logs its id on every wake.
    struct Tag {
        /// The id to log.
        id: u64,
        /// Where to log it.
        log: Log,
    }

    impl Wake for Tag {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.log.lock().unwrap().push(self.id);
        }
    }

    /// A waker that logs `id` into `log`.
    fn tag(id: u64, log: &Log) -> Waker {
        Arc::new(Tag {
            id,
            log: log.clone(),
        })
        .into()
    }

    /// Wakes and drains `fired`, returning the sorted ids that were woken.
    fn woken(fired: &mut Vec<Waker>, log: &Log) -> Vec<u64> {
        fired.drain(..).for_each(Waker::wake);
        let mut ids = std::mem::take(&mut *log.lock().unwrap());
        ids.sort_unstable();
        ids
    }

    /// Asserts that the one pending timer `key` fires at `when` exactly, reached the
    /// way a driver would: sleeping until `next_expiration` again and again.
    fn fires_exactly_at(wheel: &mut Wheel, key: TimerKey, when: u64) {
        let mut fired = Vec::new();
        for _ in 0..64 {
            let next = wheel.next_expiration().expect("a timer is pending");
            assert!(next <= when && next >= wheel.elapsed());
            assert_eq!(wheel.advance(next, &mut fired), usize::from(next == when));
            if wheel.is_fired(key) {
                assert_eq!((wheel.elapsed(), fired.len()), (when, 1));
                return;
            }
        }
        panic!("timer due at {when} never fired");
    }

    #[test]
    fn new_wheel_is_empty() {
        let mut wheel = Wheel::new();
        assert_eq!((wheel.elapsed(), wheel.len()), (0, 0));
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_expiration(), None);
        assert_eq!(wheel.advance(1 << 50, &mut Vec::new()), 0);
        assert_eq!(wheel.elapsed(), 1 << 50);
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let log = Log::default();
        let mut wheel = Wheel::new();
        let key = wheel.insert(5, tag(7, &log));
        let mut fired = Vec::new();
        assert_eq!(wheel.advance(4, &mut fired), 0);
        assert!(!wheel.is_fired(key));
        assert_eq!(wheel.advance(5, &mut fired), 1);
        assert!(wheel.is_fired(key));
        assert_eq!(woken(&mut fired, &log), [7]);
        // Fired entries stay until removed, and never fire again.
        assert_eq!((wheel.len(), wheel.next_expiration()), (1, None));
        assert_eq!(wheel.advance(1000, &mut fired), 0);
        wheel.remove(key);
        assert!(wheel.is_empty());
    }

    #[test]
    fn due_at_once_fires_on_next_advance() {
        let log = Log::default();
        let mut wheel = Wheel::new();
        wheel.advance(100, &mut Vec::new());
        wheel.insert(50, tag(1, &log));
        wheel.insert(100, tag(2, &log));
        assert_eq!(wheel.next_expiration(), Some(100));
        let mut fired = Vec::new();
        // A `now` behind `elapsed` counts as `elapsed`.
        assert_eq!(wheel.advance(3, &mut fired), 2);
        assert_eq!(woken(&mut fired, &log), [1, 2]);
        assert_eq!(wheel.elapsed(), 100);
    }

    #[test]
    fn set_waker_replaces_unless_will_wake() {
        let log = Log::default();
        let mut wheel = Wheel::new();
        let first = Arc::new(Tag {
            id: 1,
            log: log.clone(),
        });
        let waker = Waker::from(first.clone());
        let key = wheel.insert(10, waker.clone());
        assert_eq!(Arc::strong_count(&first), 3);
        wheel.set_waker(key, &waker);
        assert_eq!(Arc::strong_count(&first), 3, "same task: no clone stored");
        wheel.set_waker(key, &tag(2, &log));
        assert_eq!(Arc::strong_count(&first), 2, "old waker dropped");
        let mut fired = Vec::new();
        wheel.advance(10, &mut fired);
        assert_eq!(woken(&mut fired, &log), [2]);
        // The waker was moved out, not cloned: nothing of it is left in the wheel.
        wheel.set_waker(key, &waker);
        assert_eq!(Arc::strong_count(&first), 2);
    }

    #[test]
    fn removed_timers_never_fire() {
        let log = Log::default();
        let mut wheel = Wheel::new();
        wheel.advance(1000, &mut Vec::new());
        // One entry in each place: due list, every level, and overflow.
        let whens = [
            3,
            1000,
            1001,
            1100,
            5000,
            300_000,
            1 << 30,
            1 << 35,
            1 << 40,
        ];
        let keys: Vec<_> = whens.map(|w| wheel.insert(w, tag(w, &log))).into();
        assert_eq!(wheel.len(), whens.len());
        keys.into_iter().for_each(|key| wheel.remove(key));
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_expiration(), None);
        let mut fired = Vec::new();
        assert_eq!(wheel.advance(u64::MAX, &mut fired), 0);
    }

    #[test]
    #[should_panic(expected = "TimerKey(0)")]
    fn remove_twice_panics_naming_key() {
        let mut wheel = Wheel::new();
        let key = wheel.insert(1, tag(0, &Log::default()));
        wheel.remove(key);
        wheel.remove(key);
    }

    #[test]
    fn cascades_fire_exactly_on_time() {
        let log = Log::default();
        let (top, epoch) = ((1 << 30) + 7, 1 << 36);
        for when in [1, 63, 64, 65, 4095, 4096, 262_145, top, epoch - 1, epoch] {
            let mut wheel = Wheel::new();
            let key = wheel.insert(when, tag(when, &log));
            fires_exactly_at(&mut wheel, key, when);
        }
    }

    #[test]
    fn overflow_and_epoch_boundaries() {
        let log = Log::default();
        let mut wheel = Wheel::new();
        // Near the end of an epoch, a deadline a few ticks on is already in the next one.
        wheel.advance((1 << 36) - 10, &mut Vec::new());
        let key = wheel.insert((1 << 36) + 5, tag(1, &log));
        fires_exactly_at(&mut wheel, key, (1 << 36) + 5);
        for when in [(3 << 36) + 12_345, 5 << 40, u64::MAX - 1, u64::MAX] {
            let key = wheel.insert(when, tag(when, &log));
            fires_exactly_at(&mut wheel, key, when);
        }
    }

    #[test]
    fn ten_thousand_timers_with_one_deadline_all_fire() {
        let log = Log::default();
        let mut wheel = Wheel::new();
        for id in 0..10_000 {
            wheel.insert(123_456, tag(id, &log));
        }
        let mut fired = Vec::new();
        assert_eq!(wheel.advance(123_455, &mut fired), 0);
        assert_eq!(wheel.advance(123_456, &mut fired), 10_000);
        assert_eq!(woken(&mut fired, &log), (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn ten_year_jump_is_fast() {
        const TEN_YEARS: u64 = 10 * 365 * 24 * 60 * 60 * 1000;
        let log = Log::default();
        let whens = [1000, TEN_YEARS / 2, TEN_YEARS];
        let mut wheel = Wheel::new();
        let keys = whens.map(|w| wheel.insert(w, tag(w, &log)));
        let start = Instant::now();
        let mut fired = Vec::new();
        assert_eq!(wheel.advance(TEN_YEARS, &mut fired), 3);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(woken(&mut fired, &log), whens);
        assert!(keys.iter().all(|&key| wheel.is_fired(key)));

        // A driver sleeping from one expiration to the next needs only a few wake-ups.
        let mut wheel = Wheel::new();
        let keys = whens.map(|w| wheel.insert(w, tag(w, &log)));
        let mut wakeups = 0;
        while let Some(next) = wheel.next_expiration() {
            wheel.advance(next, &mut fired);
            wakeups += 1;
        }
        assert!(keys.iter().all(|&key| wheel.is_fired(key)));
        assert!(wakeups < 40, "{wakeups} wake-ups");
    }

    /// A xorshift64 generator: deterministic and dependency-free.
    struct Rng(u64);

    impl Rng {
        /// The next raw value.
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A value in `0..n`.
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Runs random operations against the wheel, started at tick `start`, and a
    /// `BTreeMap` of pending timers.
    fn against_oracle(seed: u64, start: u64) {
        let log = Log::default();
        let mut fired = Vec::new();
        let mut rng = Rng(seed);
        let mut wheel = Wheel::new();
        wheel.advance(start, &mut fired);
        let mut pending = BTreeMap::<(u64, u64), TimerKey>::new();
        let mut done = Vec::<TimerKey>::new();
        for id in 0..4000u64 {
            let elapsed = wheel.elapsed();
            match rng.below(10) {
                0..=3 => {
                    let when = match rng.below(7) {
                        0 => elapsed.saturating_sub(rng.below(100)),
                        1 => elapsed.saturating_add(rng.below(64)),
                        2 => elapsed.saturating_add(rng.below(1 << 20)),
                        3 => elapsed.saturating_add(rng.below(1 << 42)),
                        4 => elapsed.saturating_add(rng.below(1 << 36) | 1 << 36),
                        5 => rng.next(),
                        _ => u64::MAX - rng.below(1000),
                    };
                    pending.insert((when, id), wheel.insert(when, tag(id, &log)));
                }
                4 if !pending.is_empty() => {
                    let nth = rng.below(pending.len() as u64) as usize;
                    let item = *pending.keys().nth(nth).unwrap();
                    wheel.remove(pending.remove(&item).unwrap());
                }
                5 if !done.is_empty() => {
                    let nth = rng.below(done.len() as u64) as usize;
                    wheel.remove(done.swap_remove(nth));
                }
                _ => {
                    let earliest = pending.keys().next().map(|&(when, _)| when);
                    let mut now = match rng.below(8) {
                        0 => elapsed.saturating_add(rng.below(4)),
                        1 => elapsed.saturating_add(rng.below(1 << 12)),
                        2 => elapsed.saturating_add(rng.below(1 << 38)),
                        3 => wheel.next_expiration().unwrap_or(elapsed),
                        4 => earliest.unwrap_or(elapsed).saturating_sub(1),
                        5 => earliest.unwrap_or(elapsed),
                        6 if rng.below(50) == 0 => rng.next(),
                        _ => elapsed.saturating_sub(rng.below(10)),
                    };
                    // Rarely let time leap to the far end, so most steps stay where timers are.
                    if now.saturating_sub(elapsed) > 1 << 44 && rng.below(100) != 0 {
                        now = elapsed + rng.below(1 << 44);
                    }
                    let now_eff = now.max(elapsed);
                    let count = wheel.advance(now, &mut fired);
                    assert_eq!(count, fired.len());
                    let due: Vec<_> = pending
                        .range(..=(now_eff, u64::MAX))
                        .map(|(&k, _)| k)
                        .collect();
                    let mut expected: Vec<u64> = due.iter().map(|&(_, id)| id).collect();
                    expected.sort_unstable();
                    assert_eq!(woken(&mut fired, &log), expected, "seed {seed} step {id}");
                    for item in due {
                        let key = pending.remove(&item).unwrap();
                        assert!(wheel.is_fired(key));
                        done.push(key);
                    }
                    assert_eq!(wheel.elapsed(), now_eff);
                }
            }
            assert_eq!(wheel.len(), pending.len() + done.len());
            let elapsed = wheel.elapsed();
            match (wheel.next_expiration(), pending.keys().next()) {
                (None, None) => {}
                (Some(next), Some(&(when, _))) => {
                    assert!(
                        next >= elapsed && next <= when.max(elapsed),
                        "seed {seed} step {id}"
                    )
                }
                other => panic!("seed {seed} step {id}: {other:?}"),
            }
        }
    }

    #[test]
    fn randomized_against_btreemap_oracle() {
        for seed in [1, 0x9E37_79B9_7F4A_7C15, 42, 0xDEAD_BEEF, 7_777_777] {
            against_oracle(seed, 0);
        }
        // Near the top of the tick range, where deadlines saturate at `u64::MAX`.
        against_oracle(0x5EED, u64::MAX - (1 << 40));
    }
}
