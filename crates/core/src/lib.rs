//! The vocabulary every mcp-reconnect layer shares, so that each layer also
//! works alone.
//!
//! Remote MCP servers sit behind reverse proxies and restart often. A client
//! then sees `502`, `503`, `504`, refused or reset connections, timeouts, and
//! `404` for a session the restarted server forgot. What to do about each
//! depends on two facts this crate computes once:
//!
//! - **its class** ([`FailureClass`]): is it recoverable by reconnecting,
//!   re-initializing, or waiting — or is it the server's real answer?
//! - **whether the request reached the server** ([`Reached`]): a request that
//!   provably never did may be sent again whatever it does; one that may have
//!   is sent again only when the operation is safe to repeat.
//!
//! `ClassifyLayer` (crate `mcp-reconnect-classify`) attaches a
//! [`Classification`] to each response, or returns a [`ClassifiedError`];
//! the layers above read it, and compute it with the same functions here
//! when it is missing.
//!
//! # Protocol eras
//!
//! MCP Streamable HTTP comes in two eras, and the layers serve both:
//!
//! - **Legacy (2025-03-26 … 2025-11-25)**: `initialize` opens a session and
//!   its `Mcp-Session-Id` rides on every later request; a restarted server
//!   usually forgets it and answers `404`.
//! - **2026-07-28**: no `initialize` and no session; a client probes with
//!   `server/discover`, and each request also names its JSON-RPC method and
//!   tool (prompt, resource) in the `Mcp-Method` and `Mcp-Name` headers.
//!
//! No layer compares `MCP-Protocol-Version` values; requests carry the
//! client's. What tells the eras apart is whether a request carries
//! `Mcp-Session-Id` ([`RequestFacts::carried_session`]): only then is a `404`
//! [`FailureClass::SessionLost`], and only then does the session layer map
//! and re-initialize it (a request without one passes straight through
//! unless it is an `initialize`). `Mcp-Method` / `Mcp-Name` are read where
//! present ([`headers::header_method`], [`headers::header_name`]): the session
//! layer skips the body peek when `Mcp-Method` is not `initialize`, the retry
//! layer treats a call whose headers name something other than its body as
//! unsafe to repeat, and the gateway's failure log takes the MCP method and
//! tool only from them. The gateway's own client speaks the legacy handshake
//! (`2025-06-18`), and the connector's `ping` probe names that version too.
//!
//! # Example
//!
//! ```
//! use http::{Response, StatusCode};
//! use mcp_reconnect_core::{FailureClass, Reached, RequestFacts, classify_response, headers};
//!
//! // A request that named a session, answered 404 by a restarted server:
//! let request = http::Request::post("http://127.0.0.1:1/mcp")
//!     .header(headers::MCP_SESSION_ID, "abc")
//!     .body(())
//!     .unwrap();
//! let facts = RequestFacts::from_request(&request);
//! let (parts, ()) = Response::builder().status(StatusCode::NOT_FOUND).body(()).unwrap().into_parts();
//! let class = classify_response(&parts, facts);
//! assert_eq!(class.class(), Some(FailureClass::SessionLost));
//! assert_eq!(class.failure().unwrap().reached(), Reached::No);
//! assert!(class.is_recoverable());
//! ```
//!
//! # What is here
//!
//! - [`class`]: [`FailureClass`], [`Reached`], [`Failure`], [`Classification`];
//! - [`classify_response`], [`classify_status`], [`refine_with_body`]: answers;
//! - [`classify_error`], [`ClassifiedError`], [`cause_ref`]: errors;
//! - [`peek`]: method, id and tool name of a JSON-RPC body, without parsing arguments;
//! - [`headers`]: the MCP header names;
//! - [`Attempt`]: which try of a request this is, so retry layers never stack;
//! - [`respond`]: the one JSON-RPC error responder;
//! - [`body`]: [`LayerBody`](body::LayerBody), the inner body or bytes a layer wrote,
//!   and [`collect_bytes`](body::collect_bytes), a small bounded body reader;
//! - [`sse`]: a bounded, incremental `text/event-stream` decoder;
//! - [`status`]: what a circuit reports ([`CircuitState`](status::CircuitState),
//!   [`StatusSnapshot`](status::StatusSnapshot)) and [`StatusSource`](status::StatusSource),
//!   the trait a health check reads it through;
//! - [`redact_url`]: an upstream's address without userinfo, query or fragment;
//! - [`repoll`]: a connection task that polls itself again instead of
//!   yielding when hyper's body channel wakes it from inside its own poll;
//! - [`metrics`]: a lock-free duration histogram for `_seconds` metrics;
//! - [`config`]: reading `MCPO_*` settings with errors that name the variable.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attempt;
pub mod body;
pub mod class;
pub mod config;
pub mod error;
pub mod headers;
pub mod metrics;
pub mod peek;
pub mod redact;
pub mod repoll;
pub mod respond;
pub mod response;
pub mod sse;
pub mod status;

pub use attempt::{Attempt, Deadline};
pub use class::{Classification, Failure, FailureClass, Reached};
pub use error::{BoxError, ClassifiedError, cause_ref, classify_error, classify_io_kind};
pub use redact::redact_url;
pub use response::{
    RequestFacts, body_can_refine, body_worth_reading, classify_response, classify_status, refine_with_body,
    retry_after,
};

/// What every future of these crates does when polled again after it
/// returned `Ready`: panic, as tower's and the standard library's futures do.
/// Polling a finished future breaks the `Future` contract; no input can
/// cause it, and a made-up answer would hide the caller's bug.
#[cold]
#[track_caller]
pub fn polled_after_completion(future: &'static str) -> ! {
    panic!("{future} polled after completion")
}

/// Chained setters of plain fields, the builder style of every `Config` and
/// option type here: `pub fn name(mut self, name: T) -> Self` stores the
/// value as given. A setter that checks, clamps or converts is written out.
/// Used inside the type's `impl` block, each setter with its own docs.
///
/// ```
/// #[derive(Default)]
/// pub struct Options {
///     limit: usize,
/// }
///
/// impl Options {
///     mcp_reconnect_core::setters! {
///         /// The most taken at once. Default is 0.
///         pub fn limit(limit: usize);
///     }
/// }
///
/// assert_eq!(Options::default().limit(3).limit, 3);
/// ```
#[macro_export]
macro_rules! setters {
    ($($(#[$attr:meta])* $vis:vis fn $name:ident($field:ident: $ty:ty);)*) => {
        $(
            $(#[$attr])*
            $vis fn $name(mut self, $field: $ty) -> Self {
                self.$field = $field;
                self
            }
        )*
    };
}

/// The accessors every service of these crates has, as tower's own services
/// do: `get_ref`, `get_mut` and `into_inner` on the wrapped service in field
/// `$field`, of type `$inner`. Used inside the service's `impl` block.
///
/// ```
/// struct Wrapper<S> {
///     inner: S,
/// }
///
/// impl<S> Wrapper<S> {
///     mcp_reconnect_core::inner_service_accessors!(inner: S);
/// }
///
/// let mut wrapper = Wrapper { inner: 1 };
/// *wrapper.get_mut() += 1;
/// assert_eq!((*wrapper.get_ref(), wrapper.into_inner()), (2, 2));
/// ```
#[macro_export]
macro_rules! inner_service_accessors {
    ($field:ident: $inner:ty) => {
        /// The wrapped service.
        pub fn get_ref(&self) -> &$inner {
            &self.$field
        }

        /// The wrapped service, mutably.
        pub fn get_mut(&mut self) -> &mut $inner {
            &mut self.$field
        }

        /// Unwraps the service.
        pub fn into_inner(self) -> $inner {
            self.$field
        }
    };
}
