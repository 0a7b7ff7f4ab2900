//! The OData filter syntax of the REST API's `filter` parameter: a builder that escapes values,
//! and a parser and evaluator over `userId`, `connectionId` and `groups`.

mod builder;
pub use builder::{Field, Filter, Literal};
