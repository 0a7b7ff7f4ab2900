//! The OData filter syntax of the REST API's `filter` parameter: a builder that escapes values,
//! and a parser and evaluator over `userId`, `connectionId` and `groups`.
//!
//! A user builds a filter for the REST client's `filter` parameter (sends and closes to
//! connections matching it); the builder quotes every value, so a name with a quote cannot
//! change the expression:
//!
//! ```
//! use webpubsub_protocol::filter::{Filter, ParsedFilter};
//!
//! let filter = Filter::user_id()
//!     .ne("O'Brien")
//!     .and(Filter::in_group("room 1").or(Filter::in_group("lobby")));
//! assert_eq!(
//!     filter.as_str(),
//!     "userId ne 'O''Brien' and ('room 1' in groups or 'lobby' in groups)"
//! );
//! // The service (and the emulator) parse it back; a malformed filter is an error in words.
//! assert!(filter.as_str().parse::<ParsedFilter>().is_ok());
//! assert!("userId eq".parse::<ParsedFilter>().is_err());
//! ```

mod builder;
mod eval;
mod parser;
pub use builder::{Field, Filter, Literal};
pub use eval::FilterSubject;
pub use parser::{FilterError, MAX_DEPTH, MAX_LENGTH, ParsedFilter};
