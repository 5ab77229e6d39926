//! [`join!`](crate::join) and [`try_join!`](crate::try_join): asyncio's `gather` over a
//! fixed set of futures, polled in place by the current task (no spawn, no allocation).

/// Waits for every future and returns their outputs as a tuple, in argument order
/// (asyncio's `gather` over unspawned awaitables).
///
/// The futures run concurrently on the current task: each poll of the join polls every
/// unfinished one, so there is no spawn and no allocation, and they may borrow locals.
/// A future that finished is not polled again; its output waits in the join. Up to 32
/// futures. Must be used inside an `async` context.
///
/// Dropping the join drops every future, finished or not (their cancellation).
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// let start = ringio::time::Instant::now();
/// let (a, b, c) = ringio::join!(
///     async { ringio::time::sleep(Duration::from_secs(2)).await; "slow" },
///     async { ringio::time::sleep(Duration::from_secs(1)).await; 1 },
///     async { 'c' },
/// );
/// assert_eq!((a, b, c), ("slow", 1, 'c'));
/// assert_eq!(start.elapsed(), Duration::from_secs(2)); // concurrently, not in sequence
/// # });
/// ```
#[macro_export]
macro_rules! join {
    ($($future:expr),+ $(,)?) => {
        $crate::__join_impl!(@pair join [] [$($future,)+] [
            _f0 _f1 _f2 _f3 _f4 _f5 _f6 _f7 _f8 _f9 _f10 _f11 _f12 _f13 _f14 _f15
            _f16 _f17 _f18 _f19 _f20 _f21 _f22 _f23 _f24 _f25 _f26 _f27 _f28 _f29 _f30 _f31
        ] [
            _o0 _o1 _o2 _o3 _o4 _o5 _o6 _o7 _o8 _o9 _o10 _o11 _o12 _o13 _o14 _o15
            _o16 _o17 _o18 _o19 _o20 _o21 _o22 _o23 _o24 _o25 _o26 _o27 _o28 _o29 _o30 _o31
        ])
    };
}

/// Waits for every future returning `Result`, and returns `Ok` with their values as a
/// tuple, or the **first** `Err` as soon as it happens, dropping the others (the
/// cancellation asyncio's TaskGroup gives its siblings).
///
/// Like [`join!`](crate::join), the futures run concurrently on the current task, with
/// no spawn and no allocation. The error types must all be the same. Up to 32 futures.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// let start = ringio::time::Instant::now();
/// let res: Result<(u8, u8), &str> = ringio::try_join!(
///     async { ringio::time::sleep(Duration::from_secs(60)).await; Ok(1) },
///     async { ringio::time::sleep(Duration::from_secs(1)).await; Err("refused") },
/// );
/// assert_eq!(res, Err("refused"));
/// assert_eq!(start.elapsed(), Duration::from_secs(1)); // the slow one was dropped
/// # });
/// ```
#[macro_export]
macro_rules! try_join {
    ($($future:expr),+ $(,)?) => {
        $crate::__join_impl!(@pair try_join [] [$($future,)+] [
            _f0 _f1 _f2 _f3 _f4 _f5 _f6 _f7 _f8 _f9 _f10 _f11 _f12 _f13 _f14 _f15
            _f16 _f17 _f18 _f19 _f20 _f21 _f22 _f23 _f24 _f25 _f26 _f27 _f28 _f29 _f30 _f31
        ] [
            _o0 _o1 _o2 _o3 _o4 _o5 _o6 _o7 _o8 _o9 _o10 _o11 _o12 _o13 _o14 _o15
            _o16 _o17 _o18 _o19 _o20 _o21 _o22 _o23 _o24 _o25 _o26 _o27 _o28 _o29 _o30 _o31
        ])
    };
}

/// The shared body of [`join!`](crate::join) and [`try_join!`](crate::try_join): pairs
/// each future with a name for its pinned future and one for its output (macro_rules
/// cannot make names), then polls them all in one `poll_fn`.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_impl {
    // Pair the next future with the next two names.
    (@pair $kind:ident [$($done:tt)*] [$future:expr, $($rest:expr,)*]
        [$f:ident $($fs:ident)*] [$o:ident $($os:ident)*]) => {
        $crate::__join_impl!(@pair $kind [$($done)* ($f $o $future)] [$($rest,)*]
            [$($fs)*] [$($os)*])
    };
    (@pair $kind:ident [$($done:tt)*] [$future:expr, $($rest:expr,)*] [] []) => {
        ::core::compile_error!("join!/try_join! take at most 32 futures")
    };
    (@pair join [$(($f:ident $o:ident $future:expr))*] [] [$($fs:ident)*] [$($os:ident)*]) => {{
        $( let mut $f = ::core::pin::pin!($future); let mut $o = ::core::option::Option::None; )*
        ::core::future::poll_fn(|cx| {
            let mut pending = false;
            $(
                if $o.is_none() {
                    match ::core::future::Future::poll($f.as_mut(), cx) {
                        ::core::task::Poll::Ready(v) => $o = ::core::option::Option::Some(v),
                        ::core::task::Poll::Pending => pending = true,
                    }
                }
            )*
            if pending {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(($(
                $o.take().expect("join! output taken once"),
            )*))
        })
        .await
    }};
    (@pair try_join [$(($f:ident $o:ident $future:expr))*] [] [$($fs:ident)*] [$($os:ident)*]) => {{
        $( let mut $f = ::core::pin::pin!($future); let mut $o = ::core::option::Option::None; )*
        ::core::future::poll_fn(|cx| {
            let mut pending = false;
            $(
                if $o.is_none() {
                    match ::core::future::Future::poll($f.as_mut(), cx) {
                        ::core::task::Poll::Ready(::core::result::Result::Ok(v)) => {
                            $o = ::core::option::Option::Some(v)
                        }
                        ::core::task::Poll::Ready(::core::result::Result::Err(e)) => {
                            return ::core::task::Poll::Ready(::core::result::Result::Err(e));
                        }
                        ::core::task::Poll::Pending => pending = true,
                    }
                }
            )*
            if pending {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(::core::result::Result::Ok(($(
                $o.take().expect("try_join! output taken once"),
            )*)))
        })
        .await
    }};
}
