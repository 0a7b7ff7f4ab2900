//! The OData filter syntax of the REST API's `filter` parameter: a builder that escapes values,
//! and a parser and evaluator over `userId`, `connectionId` and `groups`.

mod builder;
mod eval;
mod parser;
pub use builder::{Field, Filter, Literal};
pub use eval::FilterSubject;
pub use parser::{FilterError, MAX_DEPTH, MAX_LENGTH, ParsedFilter};
