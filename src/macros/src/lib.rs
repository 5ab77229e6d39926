//! `#[ringio::main]` and `#[ringio::test]`; use them through `ringio` (feature
//! `macros`), which documents them.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Error, Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

/// What the attribute's `key = value` arguments asked for.
#[derive(Default)]
struct Options {
    workers: Option<usize>,
    /// `None`: main uses the builder's default; a test runs on both drivers.
    driver: Option<String>,
    pin: Option<bool>,
    start_paused: Option<bool>,
}

fn parse_options(args: TokenStream, allowed: &[&str]) -> Result<Options, Error> {
    let parser = Punctuated::<MetaNameValue, Token![,]>::parse_terminated;
    let mut opts = Options::default();
    for arg in parser.parse(args)? {
        let key = arg
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(Error::new_spanned(
                &arg.path,
                format!("unknown argument; expected one of: {}", allowed.join(", ")),
            ));
        }
        let Expr::Lit(ExprLit { lit, .. }) = &arg.value else {
            return Err(Error::new_spanned(&arg.value, "expected a literal"));
        };
        match (key.as_str(), lit) {
            ("workers", Lit::Int(n)) => {
                let n: usize = n.base10_parse()?;
                if n == 0 {
                    return Err(Error::new_spanned(lit, "workers must be at least 1"));
                }
                opts.workers = Some(n);
            }
            ("driver", Lit::Str(s)) => {
                let v = s.value();
                let known: &[&str] = if allowed.contains(&"start_paused") {
                    &["uring", "epoll", "auto", "both"]
                } else {
                    &["uring", "epoll", "auto"]
                };
                if !known.contains(&v.as_str()) {
                    return Err(Error::new_spanned(
                        s,
                        format!("driver must be one of: {}", known.join(", ")),
                    ));
                }
                opts.driver = (v != "both").then_some(v);
            }
            ("pin", Lit::Bool(b)) => opts.pin = Some(b.value),
            ("start_paused", Lit::Bool(b)) => opts.start_paused = Some(b.value),
            _ => {
                return Err(Error::new_spanned(
                    lit,
                    format!("wrong kind of value for `{key}`"),
                ))
            }
        }
    }
    Ok(opts)
}

fn driver_path(name: &str) -> TokenStream2 {
    let variant = match name {
        "uring" => format_ident!("Uring"),
        "epoll" => format_ident!("Epoll"),
        _ => format_ident!("Auto"),
    };
    quote!(::ringio::runtime::Driver::#variant)
}

/// The builder calls for `opts`, with `driver` (a token stream) if given.
fn builder(opts: &Options, driver: Option<TokenStream2>) -> TokenStream2 {
    let workers = opts.workers.map(|n| quote!(.workers(#n)));
    let pin = opts.pin.map(|p| quote!(.pin_workers(#p)));
    let paused = opts.start_paused.map(|p| quote!(.start_paused(#p)));
    let driver = driver.map(|d| quote!(.driver(#d)));
    quote! {
        ::ringio::Builder::new()
            #workers #pin #paused #driver
            .build()
    }
}

fn check_async(f: &ItemFn, what: &str) -> Result<(), Error> {
    if f.sig.asyncness.is_none() {
        return Err(Error::new_spanned(
            f.sig.fn_token,
            format!("#[ringio::{what}] goes on an `async fn`"),
        ));
    }
    if !f.sig.inputs.is_empty() || !f.sig.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &f.sig.inputs,
            format!("#[ringio::{what}] takes a function without arguments or generics"),
        ));
    }
    Ok(())
}

/// Runs an `async fn main` on a ringio runtime: `fn main` builds the runtime and
/// `block_on`s the body.
///
/// Arguments (all optional): `workers = N` (threads, one loop each; default 1),
/// `driver = "uring" | "epoll" | "auto"` (default: the builder's, `auto`, which
/// `RINGIO_DRIVER` overrides), `pin = true | false` (pin each worker to its CPU).
///
/// ```text
/// #[ringio::main(workers = 2, driver = "uring")]
/// async fn main() -> std::io::Result<()> {
///     let listener = ringio::net::TcpListener::bind("127.0.0.1:0")?;
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_main(args, item).unwrap_or_else(|e| e.to_compile_error().into())
}

fn expand_main(args: TokenStream, item: TokenStream) -> Result<TokenStream, Error> {
    let opts = parse_options(args, &["workers", "driver", "pin"])?;
    let f: ItemFn = syn::parse(item)?;
    check_async(&f, "main")?;
    let (attrs, vis, name, output, body) =
        (&f.attrs, &f.vis, &f.sig.ident, &f.sig.output, &f.block);
    let build = builder(&opts, opts.driver.as_deref().map(driver_path));
    Ok(quote! {
        #(#attrs)*
        #vis fn #name() #output {
            let __ringio_body = async move #body;
            #build
                .expect("ringio::main: the runtime failed to start")
                .block_on(__ringio_body)
        }
    }
    .into())
}

/// An `async fn` test, run on a fresh ringio runtime. By default the body runs twice,
/// once on io_uring and once on epoll, as two tests: `name::uring` and `name::epoll`
/// (so `cargo test epoll` picks one driver).
///
/// Arguments (all optional): `driver = "uring" | "epoll" | "auto" | "both"` (one
/// plain test named `name` unless `both`, the default), `start_paused = true` (the
/// clock starts paused and jumps to the next timer whenever every task is idle, so
/// time-dependent tests take no wall time), `workers = N`, `pin = true | false`.
/// Other attributes (`#[should_panic]`, `#[ignore]`) apply to each generated test.
///
/// ```text
/// #[ringio::test(start_paused = true)]
/// async fn a_day_passes_at_once() {
///     ringio::time::sleep(std::time::Duration::from_secs(86_400)).await;
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_test(args, item).unwrap_or_else(|e| e.to_compile_error().into())
}

fn expand_test(args: TokenStream, item: TokenStream) -> Result<TokenStream, Error> {
    let opts = parse_options(args, &["workers", "driver", "pin", "start_paused"])?;
    let f: ItemFn = syn::parse(item)?;
    check_async(&f, "test")?;
    let (attrs, vis, name, output, body) =
        (&f.attrs, &f.vis, &f.sig.ident, &f.sig.output, &f.block);
    let run = |driver: TokenStream2| {
        let build = builder(&opts, Some(driver.clone()));
        quote! {
            #build
                .unwrap_or_else(|e| panic!("ringio::test: the {:?} runtime failed to start: {e}", #driver))
                .block_on(__ringio_test_body())
        }
    };
    if let Some(driver) = &opts.driver {
        // One driver: a plain test.
        let run = run(driver_path(driver));
        return Ok(quote! {
            #[::core::prelude::v1::test]
            #(#attrs)*
            #vis fn #name() #output {
                async fn __ringio_test_body() #output #body
                #run
            }
        }
        .into());
    }
    // Both drivers: a module with one test per driver, `name::uring` and `name::epoll`.
    let (uring, epoll) = (run(driver_path("uring")), run(driver_path("epoll")));
    let span = Span::call_site();
    let (uring_fn, epoll_fn) = (
        syn::Ident::new("uring", span),
        syn::Ident::new("epoll", span),
    );
    Ok(quote! {
        #vis mod #name {
            #[allow(unused_imports)]
            use super::*;

            async fn __ringio_test_body() #output #body

            #[::core::prelude::v1::test]
            #(#attrs)*
            fn #uring_fn() #output {
                #uring
            }

            #[::core::prelude::v1::test]
            #(#attrs)*
            fn #epoll_fn() #output {
                #epoll
            }
        }
    }
    .into())
}
