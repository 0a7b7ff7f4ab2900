//! Builds OData filter expressions with every value escaped.
//!
//! Strings become `'…'` literals with `'` doubled (`user'1` → `'user''1'`), `None` becomes
//! `null`, booleans and integers print as themselves, so a user id can never change the meaning
//! of the expression. `and`, `or` and `!` (not) add the parentheses their precedence needs.
//!
//! ```
//! use webpubsub_protocol::filter::{Filter, Literal};
//!
//! let filter = Filter::user_id().eq("o'brien")
//!     .and(Filter::in_group("room1").or(Filter::in_group("room2")))
//!     .and(!Filter::connection_id().ne("c1"));
//! assert_eq!(
//!     filter.as_str(),
//!     "userId eq 'o''brien' and ('room1' in groups or 'room2' in groups) and not (connectionId ne 'c1')"
//! );
//! assert_eq!(Filter::user_id().is_in(["a", "b"]).as_str(), "userId in ('a', 'b')");
//! assert_eq!(Literal::from(None::<&str>).as_str(), "null");
//! ```

use std::fmt;

/// A literal value of a filter expression, already escaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Literal(String);

impl Literal {
    /// A string literal: `'…'` with each `'` doubled.
    pub fn string(value: &str) -> Self {
        let mut out = String::with_capacity(value.len() + 2);
        out.push('\'');
        for c in value.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
        Self(out)
    }

    /// The `null` literal.
    pub fn null() -> Self {
        Self("null".to_owned())
    }

    /// The literal as it appears in the expression.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Literal {
    fn from(value: &str) -> Self {
        Self::string(value)
    }
}

impl From<String> for Literal {
    fn from(value: String) -> Self {
        Self::string(&value)
    }
}

impl From<&String> for Literal {
    fn from(value: &String) -> Self {
        Self::string(value)
    }
}

impl From<char> for Literal {
    fn from(value: char) -> Self {
        Self::string(value.encode_utf8(&mut [0; 4]))
    }
}

impl From<bool> for Literal {
    fn from(value: bool) -> Self {
        Self(value.to_string())
    }
}

macro_rules! integer_literals {
    ($($t:ty),*) => {$(
        impl From<$t> for Literal {
            fn from(value: $t) -> Self {
                Self(value.to_string())
            }
        }
    )*};
}
integer_literals!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl<T: Into<Self>> From<Option<T>> for Literal {
    fn from(value: Option<T>) -> Self {
        value.map_or_else(Self::null, Into::into)
    }
}

/// How tightly an expression binds, to know when an operand needs parentheses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Precedence {
    /// Hand-written text: its structure is unknown, so it is always parenthesized in a combination.
    Raw,
    Or,
    And,
    Primary,
}

/// A filter expression, ready for the `filter` parameter of the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    text: String,
    precedence: Precedence,
}

impl Filter {
    /// The `userId` of a connection.
    pub fn user_id() -> Field {
        Field("userId")
    }

    /// The `connectionId` of a connection.
    pub fn connection_id() -> Field {
        Field("connectionId")
    }

    /// `'<group>' in groups`: the connection is in `group`.
    pub fn in_group(group: &str) -> Self {
        Self::primary(format!("{} in groups", Literal::string(group)))
    }

    /// An expression written by hand, used as is (wrapped in parentheses when combined).
    /// Escape the values in it with [`Literal`].
    pub fn raw(expression: impl Into<String>) -> Self {
        Self {
            text: expression.into(),
            precedence: Precedence::Raw,
        }
    }

    /// `self and other`.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self {
            text: format!(
                "{} and {}",
                self.operand(Precedence::And),
                other.operand(Precedence::And)
            ),
            precedence: Precedence::And,
        }
    }

    /// `self or other`.
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        Self {
            text: format!(
                "{} or {}",
                self.operand(Precedence::Or),
                other.operand(Precedence::Or)
            ),
            precedence: Precedence::Or,
        }
    }

    /// The expression text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn primary(text: String) -> Self {
        Self {
            text,
            precedence: Precedence::Primary,
        }
    }

    /// The text, parenthesized if it binds more loosely than the operator it is used with.
    fn operand(&self, operator: Precedence) -> String {
        if self.precedence < operator {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }
}

/// `!filter` is `not (filter)`. The parentheses are always written: the service rejects `not`
/// applied to a comparison without them.
impl std::ops::Not for Filter {
    type Output = Self;

    fn not(self) -> Self {
        Self::primary(format!("not ({})", self.text))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Filter> for String {
    fn from(filter: Filter) -> Self {
        filter.text
    }
}

/// A property of a connection that a filter compares: `userId` or `connectionId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Field(&'static str);

impl Field {
    fn compare(self, operator: &str, value: impl Into<Literal>) -> Filter {
        Filter::primary(format!("{} {operator} {}", self.0, value.into()))
    }

    /// `field eq value`.
    pub fn eq(self, value: impl Into<Literal>) -> Filter {
        self.compare("eq", value)
    }

    /// `field ne value`.
    pub fn ne(self, value: impl Into<Literal>) -> Filter {
        self.compare("ne", value)
    }

    /// `field gt value`.
    pub fn gt(self, value: impl Into<Literal>) -> Filter {
        self.compare("gt", value)
    }

    /// `field ge value`.
    pub fn ge(self, value: impl Into<Literal>) -> Filter {
        self.compare("ge", value)
    }

    /// `field lt value`.
    pub fn lt(self, value: impl Into<Literal>) -> Filter {
        self.compare("lt", value)
    }

    /// `field le value`.
    pub fn le(self, value: impl Into<Literal>) -> Filter {
        self.compare("le", value)
    }

    /// `field in (v1, v2, …)`. An empty list gives `field in ()`, which matches nothing.
    pub fn is_in<I, V>(self, values: I) -> Filter
    where
        I: IntoIterator<Item = V>,
        V: Into<Literal>,
    {
        let list: Vec<String> = values.into_iter().map(|v| v.into().0).collect();
        Filter::primary(format!("{} in ({})", self.0, list.join(", ")))
    }

    /// `startswith(field, value)`.
    pub fn starts_with(self, value: &str) -> Filter {
        Filter::primary(format!(
            "startswith({}, {})",
            self.0,
            Literal::string(value)
        ))
    }

    /// `endswith(field, value)`.
    pub fn ends_with(self, value: &str) -> Filter {
        Filter::primary(format!("endswith({}, {})", self.0, Literal::string(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_are_quoted_and_escaped() {
        assert_eq!(Literal::from("user'1").as_str(), "'user''1'");
        assert_eq!(Literal::from("''").as_str(), "''''''");
        assert_eq!(Literal::from('\'').as_str(), "''''");
        assert_eq!(Literal::from(String::new()).as_str(), "''");
    }

    #[test]
    fn other_values_print_as_odata_literals() {
        assert_eq!(Literal::from(true).as_str(), "true");
        assert_eq!(Literal::from(-5_i64).as_str(), "-5");
        assert_eq!(Literal::from(None::<i32>).as_str(), "null");
        assert_eq!(Literal::from(Some("x")).as_str(), "'x'");
    }

    #[test]
    fn documented_examples_are_reproduced() {
        // The examples of the service's filter reference.
        assert_eq!(
            Filter::in_group("group1")
                .or(Filter::in_group("group2"))
                .as_str(),
            "'group1' in groups or 'group2' in groups"
        );
        assert_eq!(
            Filter::user_id()
                .is_in(["user1", "user2", "user3"])
                .and(Filter::in_group("group1"))
                .as_str(),
            "userId in ('user1', 'user2', 'user3') and 'group1' in groups"
        );
        assert_eq!(
            Filter::user_id()
                .eq("user1")
                .and(Filter::connection_id().ne("123"))
                .as_str(),
            "userId eq 'user1' and connectionId ne '123'"
        );
        assert_eq!(
            Filter::user_id()
                .eq("user1")
                .and(!Filter::in_group("group1"))
                .as_str(),
            "userId eq 'user1' and not ('group1' in groups)"
        );
        assert_eq!(
            Filter::user_id().starts_with("listener-").as_str(),
            "startswith(userId, 'listener-')"
        );
    }

    #[test]
    fn precedence_adds_parentheses_only_where_needed() {
        let a = || Filter::user_id().eq("a");
        let b = || Filter::user_id().eq("b");
        assert_eq!(
            a().or(b()).and(a()).as_str(),
            "(userId eq 'a' or userId eq 'b') and userId eq 'a'"
        );
        assert_eq!(
            a().and(b()).or(a()).as_str(),
            "userId eq 'a' and userId eq 'b' or userId eq 'a'"
        );
        assert_eq!(
            Filter::raw("userId eq 'x'").and(a()).as_str(),
            "(userId eq 'x') and userId eq 'a'"
        );
    }

    proptest! {
        #[test]
        fn escaped_literals_decode_to_the_value(value in "\\PC*") {
            let literal = Literal::from(value.as_str()).0;
            let inner = &literal[1..literal.len() - 1];
            // Every quote inside is doubled, so the literal cannot end early.
            prop_assert!(!inner.replace("''", "").contains('\''));
            prop_assert_eq!(inner.replace("''", "'"), value);
        }
    }
}
