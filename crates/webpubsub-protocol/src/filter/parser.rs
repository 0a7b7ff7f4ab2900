//! Parses and type-checks an OData filter into an expression tree.
//!
//! Written by hand: the grammar is small (the service's subset of OData), no maintained crate
//! parses it, and a hand-written parser lets errors name the position and what was expected.
//!
//! Precedence, from loosest to tightest: `or`, `and`, comparisons and `in`, `not`. As in the
//! service, `not` binds tighter than a comparison, so `not length(userId) gt 5` is a type error
//! and must be written `not (length(userId) gt 5)`.

use std::{fmt, str::FromStr};

use thiserror::Error;

/// How deeply parentheses, `not` and function calls may nest. Bounds the recursion of the
/// parser and of the evaluator, so no input can overflow the stack.
pub const MAX_DEPTH: usize = 64;

/// The longest filter accepted, in bytes.
pub const MAX_LENGTH: usize = 16 * 1024;

/// A parsed, type-checked OData filter over a connection's `userId`, `connectionId`, `groups`
/// and `protocol`.
///
/// ```
/// use webpubsub_protocol::filter::ParsedFilter;
///
/// let filter: ParsedFilter = "userId eq 'user''1' and 'group1' in groups".parse()?;
/// assert_eq!(filter.as_str(), "userId eq 'user''1' and 'group1' in groups");
///
/// let error = "userId eq".parse::<ParsedFilter>().unwrap_err();
/// assert_eq!(error.to_string(), "invalid filter at position 9: expected a value, found the end of the filter");
/// # Ok::<(), webpubsub_protocol::filter::FilterError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedFilter {
    source: String,
    pub(crate) expr: Expr,
}

impl ParsedFilter {
    /// Parses and type-checks `source`.
    pub fn parse(source: &str) -> Result<Self, FilterError> {
        if source.len() > MAX_LENGTH {
            return Err(FilterError::TooLong {
                length: source.len(),
                max: MAX_LENGTH,
            });
        }
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            tokens,
            next: 0,
            end: source.len(),
            depth: 0,
        };
        let (expr, ty) = parser.or_expr()?;
        if let Some(token) = parser.peek() {
            return Err(FilterError::syntax(
                token.position,
                "`and`, `or` or the end of the filter",
                token.describe(),
            ));
        }
        expect_type(&ty, Type::Bool, 0, "the filter")?;
        Ok(Self {
            source: source.to_owned(),
            expr,
        })
    }

    /// The filter as it was written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl FromStr for ParsedFilter {
    type Err = FilterError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        Self::parse(source)
    }
}

impl fmt::Display for ParsedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Why a filter was rejected. Positions are byte offsets into the filter.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A token that the grammar does not allow here.
    #[error("invalid filter at position {position}: expected {expected}, found {found}")]
    Syntax {
        /// Where the unexpected token starts.
        position: usize,
        /// What the grammar allows here.
        expected: &'static str,
        /// What was there instead.
        found: String,
    },
    /// A string literal without its closing quote.
    #[error("invalid filter at position {position}: string literal is not closed with '")]
    UnterminatedString {
        /// Where the literal starts.
        position: usize,
    },
    /// An integer literal that does not fit in 64 bits.
    #[error("invalid filter at position {position}: integer {literal} is out of range")]
    IntegerOutOfRange {
        /// Where the literal starts.
        position: usize,
        /// The literal.
        literal: String,
    },
    /// A name that is neither a property, a function nor a keyword.
    #[error(
        "invalid filter at position {position}: unknown name `{name}` (properties are userId, connectionId, groups and protocol)"
    )]
    UnknownName {
        /// Where the name starts.
        position: usize,
        /// The name.
        name: String,
    },
    /// A function called with the wrong number of arguments.
    #[error(
        "invalid filter at position {position}: {function} takes {expected} arguments, found {found}"
    )]
    Arity {
        /// Where the call starts.
        position: usize,
        /// The function.
        function: &'static str,
        /// How many arguments it takes.
        expected: &'static str,
        /// How many it was given.
        found: usize,
    },
    /// An operand of the wrong type, such as `not length(userId)`.
    #[error("invalid filter at position {position}: {what} is {found}, expected {expected}")]
    Type {
        /// Where the operand starts.
        position: usize,
        /// Which operand.
        what: &'static str,
        /// The type it has.
        found: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// Parentheses, `not` or calls nested deeper than [`MAX_DEPTH`].
    #[error("invalid filter at position {position}: nested deeper than {max} levels")]
    TooDeep {
        /// Where the level over the limit starts.
        position: usize,
        /// The limit.
        max: usize,
    },
    /// A filter longer than [`MAX_LENGTH`].
    #[error("invalid filter: {length} bytes long, the limit is {max}")]
    TooLong {
        /// Its length.
        length: usize,
        /// The limit.
        max: usize,
    },
}

impl FilterError {
    fn syntax(position: usize, expected: &'static str, found: String) -> Self {
        Self::Syntax {
            position,
            expected,
            found,
        }
    }

    /// The byte offset of the error in the filter, when it has one.
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::Syntax { position, .. }
            | Self::UnterminatedString { position }
            | Self::IntegerOutOfRange { position, .. }
            | Self::UnknownName { position, .. }
            | Self::Arity { position, .. }
            | Self::Type { position, .. }
            | Self::TooDeep { position, .. } => Some(*position),
            Self::TooLong { .. } => None,
        }
    }
}

/// A connection property a filter can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Property {
    UserId,
    ConnectionId,
    Groups,
    Protocol,
}

/// A built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    ToLower,
    ToUpper,
    Trim,
    Substring,
    EndsWith,
    StartsWith,
    IndexOf,
    Length,
    Contains,
    Concat,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Self::ToLower => "tolower",
            Self::ToUpper => "toupper",
            Self::Trim => "trim",
            Self::Substring => "substring",
            Self::EndsWith => "endswith",
            Self::StartsWith => "startswith",
            Self::IndexOf => "indexof",
            Self::Length => "length",
            Self::Contains => "contains",
            Self::Concat => "concat",
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
}

/// The expression tree. `and`/`or` chains are flat lists, so a long chain of clauses does not
/// make the tree (and the evaluator's recursion) deep.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Literal(Literal),
    Property(Property),
    Not(Box<Self>),
    And(Vec<Self>),
    Or(Vec<Self>),
    Compare(CompareOp, Box<Self>, Box<Self>),
    InList(Box<Self>, Vec<Self>),
    InCollection(Box<Self>, Box<Self>),
    Call(Function, Vec<Self>),
}

/// The static type of an expression, checked while parsing as the service does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Null,
    Bool,
    Int,
    Str,
    Collection,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Int => "an integer",
            Self::Str => "a string",
            Self::Collection => "a collection",
        }
    }
}

/// `ty` must be `expected` (or `null`, which every type admits).
fn expect_type(
    ty: &Type,
    expected: Type,
    position: usize,
    what: &'static str,
) -> Result<(), FilterError> {
    if *ty == expected || (*ty == Type::Null && expected != Type::Bool) {
        Ok(())
    } else {
        Err(FilterError::Type {
            position,
            what,
            found: ty.name(),
            expected: expected.name(),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    Word(String),
    Str(String),
    Int(i64),
    Open,
    Close,
    Comma,
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    position: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(word) => format!("`{word}`"),
            TokenKind::Str(_) => "a string literal".to_owned(),
            TokenKind::Int(value) => format!("the integer {value}"),
            TokenKind::Open => "`(`".to_owned(),
            TokenKind::Close => "`)`".to_owned(),
            TokenKind::Comma => "`,`".to_owned(),
        }
    }

    fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

fn tokenize(source: &str) -> Result<Vec<Token>, FilterError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                TokenKind::Open
            }
            b')' => {
                i += 1;
                TokenKind::Close
            }
            b',' => {
                i += 1;
                TokenKind::Comma
            }
            b'\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(offset) = source[i..].find('\'') else {
                        return Err(FilterError::UnterminatedString { position: start });
                    };
                    value.push_str(&source[i..i + offset]);
                    i += offset + 1;
                    if bytes.get(i) == Some(&b'\'') {
                        value.push('\'');
                        i += 1;
                    } else {
                        break;
                    }
                }
                TokenKind::Str(value)
            }
            b'+' | b'-' | b'0'..=b'9' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let literal = &source[start..i];
                if !literal.bytes().any(|b| b.is_ascii_digit()) {
                    return Err(FilterError::syntax(
                        start,
                        "a value",
                        format!("`{literal}`"),
                    ));
                }
                let value = literal
                    .parse()
                    .map_err(|_| FilterError::IntegerOutOfRange {
                        position: start,
                        literal: literal.to_owned(),
                    })?;
                TokenKind::Int(value)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                TokenKind::Word(source[start..i].to_owned())
            }
            _ => {
                let found = source[start..].chars().next().unwrap_or_default();
                return Err(FilterError::syntax(
                    start,
                    "a value, an operator or a parenthesis",
                    format!("`{found}`"),
                ));
            }
        };
        tokens.push(Token {
            kind,
            position: start,
        });
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    end: usize,
    depth: usize,
}

type Typed = (Expr, Type);

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.end, |t| t.position)
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "the end of the filter".to_owned(), Token::describe)
    }

    fn eat_word(&mut self, keyword: &str) -> bool {
        let found = self.peek().is_some_and(|t| t.is_word(keyword));
        if found {
            self.next += 1;
        }
        found
    }

    fn expect(&mut self, kind: &TokenKind, expected: &'static str) -> Result<(), FilterError> {
        if self.peek().is_some_and(|t| &t.kind == kind) {
            self.next += 1;
            Ok(())
        } else {
            Err(FilterError::syntax(self.position(), expected, self.found()))
        }
    }

    /// After an item of a parenthesized list: `,` (more follow) or `)` (returns true).
    fn list_separator(&mut self) -> Result<bool, FilterError> {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Comma) => {
                self.next += 1;
                Ok(false)
            }
            Some(TokenKind::Close) => {
                self.next += 1;
                Ok(true)
            }
            _ => Err(FilterError::syntax(
                self.position(),
                "`,` or `)`",
                self.found(),
            )),
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep {
                position: self.position(),
                max: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Typed, FilterError> {
        self.chain("or", Self::and_expr, Expr::Or)
    }

    fn and_expr(&mut self) -> Result<Typed, FilterError> {
        self.chain("and", Self::comparison, Expr::And)
    }

    /// `operand (keyword operand)*`, flattened into one list.
    fn chain(
        &mut self,
        keyword: &'static str,
        operand: fn(&mut Self) -> Result<Typed, FilterError>,
        build: fn(Vec<Expr>) -> Expr,
    ) -> Result<Typed, FilterError> {
        let position = self.position();
        let first = operand(self)?;
        if !self.peek().is_some_and(|t| t.is_word(keyword)) {
            return Ok(first);
        }
        expect_type(
            &first.1,
            Type::Bool,
            position,
            "an operand of a logical operator",
        )?;
        let mut items = vec![first.0];
        while self.eat_word(keyword) {
            let position = self.position();
            let (expr, ty) = operand(self)?;
            expect_type(
                &ty,
                Type::Bool,
                position,
                "an operand of a logical operator",
            )?;
            items.push(expr);
        }
        Ok((build(items), Type::Bool))
    }

    fn comparison(&mut self) -> Result<Typed, FilterError> {
        let position = self.position();
        let left = self.unary()?;
        let op = match self.peek() {
            Some(t) if t.is_word("in") => {
                self.next += 1;
                return self.in_expr(left, position);
            }
            Some(Token {
                kind: TokenKind::Word(word),
                ..
            }) => match word.to_ascii_lowercase().as_str() {
                "eq" => CompareOp::Eq,
                "ne" => CompareOp::Ne,
                "gt" => CompareOp::Gt,
                "ge" => CompareOp::Ge,
                "lt" => CompareOp::Lt,
                "le" => CompareOp::Le,
                _ => return Ok(left),
            },
            _ => return Ok(left),
        };
        self.next += 1;
        let right_position = self.position();
        let right = self.unary()?;
        let comparable = match (left.1, right.1) {
            (Type::Collection, _) | (_, Type::Collection) => false,
            (Type::Null, _) | (_, Type::Null) => true,
            (Type::Bool, Type::Bool) => matches!(op, CompareOp::Eq | CompareOp::Ne),
            (l, r) => l == r,
        };
        if !comparable {
            let (what, found, expected, at) = if left.1 == Type::Collection {
                (
                    "the left operand of a comparison",
                    left.1,
                    "a string, an integer, a boolean or null",
                    position,
                )
            } else {
                (
                    "the right operand of a comparison",
                    right.1,
                    left.1.name(),
                    right_position,
                )
            };
            return Err(FilterError::Type {
                position: at,
                what,
                found: found.name(),
                expected,
            });
        }
        Ok((
            Expr::Compare(op, Box::new(left.0), Box::new(right.0)),
            Type::Bool,
        ))
    }

    fn in_expr(&mut self, left: Typed, position: usize) -> Result<Typed, FilterError> {
        if left.1 == Type::Collection || left.1 == Type::Bool {
            return Err(FilterError::Type {
                position,
                what: "the left operand of `in`",
                found: left.1.name(),
                expected: "a string, an integer or null",
            });
        }
        if self.peek().is_some_and(|t| t.kind == TokenKind::Open) {
            self.next += 1;
            let mut items = Vec::new();
            // `x in ()` is what the filter builder writes for an empty list: it matches nothing.
            let mut closed = self.peek().is_some_and(|t| t.kind == TokenKind::Close);
            if closed {
                self.next += 1;
            }
            while !closed {
                let item_position = self.position();
                let (expr, ty) = self.unary()?;
                if matches!(ty, Type::Collection | Type::Bool) {
                    return Err(FilterError::Type {
                        position: item_position,
                        what: "an item of an `in` list",
                        found: ty.name(),
                        expected: "a string, an integer or null",
                    });
                }
                items.push(expr);
                closed = self.list_separator()?;
            }
            return Ok((Expr::InList(Box::new(left.0), items), Type::Bool));
        }
        let right_position = self.position();
        let (right, ty) = self.unary()?;
        expect_type(
            &ty,
            Type::Collection,
            right_position,
            "the right operand of `in`",
        )?;
        Ok((
            Expr::InCollection(Box::new(left.0), Box::new(right)),
            Type::Bool,
        ))
    }

    fn unary(&mut self) -> Result<Typed, FilterError> {
        self.enter()?;
        let result = if self.eat_word("not") {
            let position = self.position();
            self.unary().and_then(|(expr, ty)| {
                expect_type(&ty, Type::Bool, position, "the operand of `not`")?;
                Ok((Expr::Not(Box::new(expr)), Type::Bool))
            })
        } else {
            self.primary()
        };
        self.depth -= 1;
        result
    }

    fn primary(&mut self) -> Result<Typed, FilterError> {
        let Some(token) = self.peek().cloned() else {
            return Err(FilterError::syntax(self.end, "a value", self.found()));
        };
        self.next += 1;
        match token.kind {
            TokenKind::Str(value) => Ok((Expr::Literal(Literal::Str(value)), Type::Str)),
            TokenKind::Int(value) => Ok((Expr::Literal(Literal::Int(value)), Type::Int)),
            TokenKind::Open => {
                let inner = self.or_expr()?;
                self.expect(&TokenKind::Close, "`)`")?;
                Ok(inner)
            }
            TokenKind::Word(word) => self.word(&word, token.position),
            TokenKind::Close | TokenKind::Comma => Err(FilterError::syntax(
                token.position,
                "a value",
                token.describe(),
            )),
        }
    }

    fn word(&mut self, word: &str, position: usize) -> Result<Typed, FilterError> {
        let lower = word.to_ascii_lowercase();
        let property = |p| {
            Ok((
                Expr::Property(p),
                if p == Property::Groups {
                    Type::Collection
                } else {
                    Type::Str
                },
            ))
        };
        let function = match lower.as_str() {
            "true" => return Ok((Expr::Literal(Literal::Bool(true)), Type::Bool)),
            "false" => return Ok((Expr::Literal(Literal::Bool(false)), Type::Bool)),
            "null" => return Ok((Expr::Literal(Literal::Null), Type::Null)),
            "userid" => return property(Property::UserId),
            "connectionid" => return property(Property::ConnectionId),
            "groups" => return property(Property::Groups),
            "protocol" => return property(Property::Protocol),
            "tolower" => Function::ToLower,
            "toupper" => Function::ToUpper,
            "trim" => Function::Trim,
            "substring" => Function::Substring,
            "endswith" => Function::EndsWith,
            "startswith" => Function::StartsWith,
            "indexof" => Function::IndexOf,
            "length" => Function::Length,
            "contains" => Function::Contains,
            "concat" => Function::Concat,
            "and" | "or" | "not" | "in" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" => {
                return Err(FilterError::syntax(
                    position,
                    "a value",
                    format!("`{word}`"),
                ));
            }
            _ => {
                return Err(FilterError::UnknownName {
                    position,
                    name: word.to_owned(),
                });
            }
        };
        self.call(function, position)
    }

    fn call(&mut self, function: Function, position: usize) -> Result<Typed, FilterError> {
        self.expect(&TokenKind::Open, "`(` after a function name")?;
        self.enter()?;
        let mut args = Vec::new();
        if self.peek().is_some_and(|t| t.kind == TokenKind::Close) {
            self.next += 1;
        } else {
            loop {
                let arg_position = self.position();
                let (expr, ty) = self.or_expr()?;
                args.push((expr, ty, arg_position));
                if self.list_separator()? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let (params, result, arity): (&[Type], Type, &'static str) = match function {
            Function::ToLower | Function::ToUpper | Function::Trim => {
                (&[Type::Str], Type::Str, "1")
            }
            Function::Substring if args.len() == 3 => {
                (&[Type::Str, Type::Int, Type::Int], Type::Str, "2 or 3")
            }
            Function::Substring => (&[Type::Str, Type::Int], Type::Str, "2 or 3"),
            Function::EndsWith | Function::StartsWith | Function::Contains => {
                (&[Type::Str, Type::Str], Type::Bool, "2")
            }
            Function::IndexOf => (&[Type::Str, Type::Str], Type::Int, "2"),
            Function::Concat => (&[Type::Str, Type::Str], Type::Str, "2"),
            Function::Length => {
                let [(_, ty, at)] = args.as_slice() else {
                    return Err(FilterError::Arity {
                        position,
                        function: "length",
                        expected: "1",
                        found: args.len(),
                    });
                };
                if *ty == Type::Bool || *ty == Type::Int {
                    return Err(FilterError::Type {
                        position: *at,
                        what: "the argument of length",
                        found: ty.name(),
                        expected: "a string or a collection",
                    });
                }
                (&[], Type::Int, "1")
            }
        };
        if function != Function::Length {
            if args.len() != params.len() {
                return Err(FilterError::Arity {
                    position,
                    function: function.name(),
                    expected: arity,
                    found: args.len(),
                });
            }
            for ((_, ty, at), param) in args.iter().zip(params) {
                expect_type(ty, *param, *at, "a function argument")?;
            }
        }
        Ok((
            Expr::Call(
                function,
                args.into_iter().map(|(expr, _, _)| expr).collect(),
            ),
            result,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> FilterError {
        ParsedFilter::parse(source).unwrap_err()
    }

    #[test]
    fn parses_the_documented_examples() {
        for source in [
            "'group1' in groups or 'group2' in groups",
            "userId in ('user1','user2','user3') and 'group1' in groups",
            "userId eq 'user1' and connectionId ne '123'",
            "userId eq 'user1' and (not ('group1' in groups))",
            "startswith(userId, 'listener-')",
            "length(userId) gt 5 and length(groups) le 3",
            "substring(userId, 1) eq 'ser' or substring(userId, 1, 2) eq 'se'",
            "indexof(toupper(trim(userId)), 'A') ge -1 and contains(concat(userId, 'x'), 'rx')",
            "userId eq null or protocol eq 'json.webpubsub.azure.v1' or true",
            "endswith(connectionId,'1') eq true",
        ] {
            ParsedFilter::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        }
    }

    #[test]
    fn escaped_quotes_become_one_quote() {
        let filter = ParsedFilter::parse("userId eq 'user''1'''").unwrap();
        let Expr::Compare(_, _, right) = &filter.expr else {
            panic!("{:?}", filter.expr)
        };
        assert_eq!(**right, Expr::Literal(Literal::Str("user'1'".into())));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let filter = ParsedFilter::parse("true or false and false").unwrap();
        let Expr::Or(items) = &filter.expr else {
            panic!("{:?}", filter.expr)
        };
        assert!(matches!(items[1], Expr::And(_)));
    }

    #[test]
    fn not_binds_tighter_than_a_comparison_as_in_the_service() {
        assert_eq!(
            error("not length(userId) gt 5"),
            FilterError::Type {
                position: 4,
                what: "the operand of `not`",
                found: "an integer",
                expected: "a boolean"
            }
        );
        ParsedFilter::parse("not (length(userId) gt 5)").unwrap();
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        assert_eq!(
            error("userId eq"),
            FilterError::Syntax {
                position: 9,
                expected: "a value",
                found: "the end of the filter".into()
            }
        );
        assert_eq!(
            error("userId eq 'a' xor"),
            FilterError::Syntax {
                position: 14,
                expected: "`and`, `or` or the end of the filter",
                found: "`xor`".into()
            }
        );
        assert_eq!(
            error("userId eq 'abc"),
            FilterError::UnterminatedString { position: 10 }
        );
        assert_eq!(
            error("name eq 'a'"),
            FilterError::UnknownName {
                position: 0,
                name: "name".into()
            }
        );
        assert_eq!(
            error("(userId eq 'a'"),
            FilterError::Syntax {
                position: 14,
                expected: "`)`",
                found: "the end of the filter".into()
            }
        );
        assert_eq!(
            error("userId eq 'a' $"),
            FilterError::Syntax {
                position: 14,
                expected: "a value, an operator or a parenthesis",
                found: "`$`".into()
            }
        );
        assert!(matches!(
            error("length(userId, 'a') gt 1"),
            FilterError::Arity {
                function: "length",
                found: 2,
                ..
            }
        ));
        assert!(matches!(
            error("substring('a') eq 'a'"),
            FilterError::Arity {
                function: "substring",
                found: 1,
                ..
            }
        ));
        assert!(matches!(
            error("userId eq 99999999999999999999"),
            FilterError::IntegerOutOfRange { position: 10, .. }
        ));
        assert!(matches!(
            error("userId"),
            FilterError::Type {
                found: "a string",
                ..
            }
        ));
        assert!(matches!(
            error("userId eq 5"),
            FilterError::Type { position: 10, .. }
        ));
        assert!(matches!(
            error("groups eq 'a'"),
            FilterError::Type { position: 0, .. }
        ));
        assert!(matches!(
            error("'a' in userId"),
            FilterError::Type { position: 7, .. }
        ));
        assert!(matches!(error("userId gt true"), FilterError::Type { .. }));
        assert!(matches!(error("true gt false"), FilterError::Type { .. }));
        assert!(matches!(error(""), FilterError::Syntax { position: 0, .. }));
        assert!(matches!(
            error("userId in (,)"),
            FilterError::Syntax { position: 11, .. }
        ));
        assert!(matches!(
            error("userId in ('a',)"),
            FilterError::Syntax { position: 15, .. }
        ));
        ParsedFilter::parse("userId in ()").unwrap();
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}true{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(matches!(
            error(&deep),
            FilterError::TooDeep { max: MAX_DEPTH, .. }
        ));
        let nots = format!("{}true", "not ".repeat(3_000));
        assert!(matches!(error(&nots), FilterError::TooDeep { .. }));
        let calls = format!(
            "{}userId{} eq 'a'",
            "tolower(".repeat(1_000),
            ")".repeat(1_000)
        );
        assert!(matches!(error(&calls), FilterError::TooDeep { .. }));
        let shallow = format!(
            "{}true{}",
            "(".repeat(MAX_DEPTH / 2),
            ")".repeat(MAX_DEPTH / 2)
        );
        ParsedFilter::parse(&shallow).unwrap();
    }

    #[test]
    fn long_chains_stay_flat() {
        let clauses = vec!["userId eq 'a'"; 500].join(" or ");
        let filter = ParsedFilter::parse(&clauses).unwrap();
        let Expr::Or(items) = &filter.expr else {
            panic!()
        };
        assert_eq!(items.len(), 500);
        assert!(matches!(
            error(&"a".repeat(MAX_LENGTH + 1)),
            FilterError::TooLong { .. }
        ));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_text(source in "\\PC{0,200}") {
                let _ = ParsedFilter::parse(&source);
            }

            #[test]
            fn never_panics_on_token_soup(
                tokens in proptest::collection::vec(
                    prop::sample::select(vec![
                        "(", ")", ",", "'a'", "'it''s'", "'", "1", "-2", "+", "userId", "groups", "connectionId",
                        "protocol", "and", "or", "not", "in", "eq", "ne", "gt", "ge", "lt", "le", "true", "null",
                        "length", "substring", "tolower", "startswith", "indexof", "concat", "é", " ",
                    ]),
                    0..60,
                )
            ) {
                let source = tokens.join(" ");
                if let Err(error) = ParsedFilter::parse(&source)
                    && let Some(position) = error.position()
                {
                    prop_assert!(position <= source.len());
                }
            }
        }
    }
}
