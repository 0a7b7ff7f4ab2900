//! Evaluates a parsed filter against one connection.
//!
//! The parser has already checked types, so evaluation cannot fail: a `null` (an anonymous
//! connection's `userId`) makes functions return `null` and ordering comparisons `false`, and a
//! `null` where a boolean is needed counts as `false`. `userId` compares case-insensitively, as
//! the service documents; the other properties compare ordinally.

use std::borrow::Cow;

use super::parser::{CompareOp, Expr, Function, Literal, ParsedFilter, Property};

/// What a filter can read of a connection.
///
/// ```
/// use webpubsub_protocol::filter::{ParsedFilter, FilterSubject};
///
/// struct Connection { id: &'static str, user: Option<&'static str>, groups: Vec<&'static str> }
///
/// impl FilterSubject for Connection {
///     fn connection_id(&self) -> &str { self.id }
///     fn user_id(&self) -> Option<&str> { self.user }
///     fn protocol(&self) -> Option<&str> { None }
///     fn in_group(&self, group: &str) -> bool { self.groups.contains(&group) }
///     fn group_count(&self) -> usize { self.groups.len() }
/// }
///
/// let alice = Connection { id: "c1", user: Some("Alice"), groups: vec!["g1"] };
/// let filter: ParsedFilter = "userId eq 'alice' and 'g1' in groups".parse()?;
/// assert!(filter.matches(&alice));
/// # Ok::<(), webpubsub_protocol::filter::FilterError>(())
/// ```
pub trait FilterSubject {
    /// The connection id.
    fn connection_id(&self) -> &str;
    /// The user id, `None` for an anonymous connection.
    fn user_id(&self) -> Option<&str>;
    /// The client subprotocol (such as `json.webpubsub.azure.v1`), `None` for a plain client.
    fn protocol(&self) -> Option<&str>;
    /// Whether the connection is in `group`.
    fn in_group(&self, group: &str) -> bool;
    /// How many groups the connection is in.
    fn group_count(&self) -> usize;
}

impl ParsedFilter {
    /// Whether the filter selects `subject`.
    pub fn matches(&self, subject: &impl FilterSubject) -> bool {
        truthy(&eval(&self.expr, subject))
    }
}

/// A runtime value. Strings remember whether they came from `userId`, which compares
/// case-insensitively.
#[derive(Debug)]
enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str { text: Cow<'a, str>, fold_case: bool },
    Groups,
}

fn truthy(value: &Value<'_>) -> bool {
    matches!(value, Value::Bool(true))
}

fn text<'a>(text: impl Into<Cow<'a, str>>, fold_case: bool) -> Value<'a> {
    Value::Str {
        text: text.into(),
        fold_case,
    }
}

fn eval<'a>(expr: &'a Expr, subject: &'a impl FilterSubject) -> Value<'a> {
    match expr {
        Expr::Literal(Literal::Null) => Value::Null,
        Expr::Literal(Literal::Bool(value)) => Value::Bool(*value),
        Expr::Literal(Literal::Int(value)) => Value::Int(*value),
        Expr::Literal(Literal::Str(value)) => text(value.as_str(), false),
        Expr::Property(Property::UserId) => {
            subject.user_id().map_or(Value::Null, |id| text(id, true))
        }
        Expr::Property(Property::ConnectionId) => text(subject.connection_id(), false),
        Expr::Property(Property::Protocol) => {
            subject.protocol().map_or(Value::Null, |p| text(p, false))
        }
        Expr::Property(Property::Groups) => Value::Groups,
        Expr::Not(inner) => Value::Bool(!truthy(&eval(inner, subject))),
        Expr::And(items) => Value::Bool(items.iter().all(|item| truthy(&eval(item, subject)))),
        Expr::Or(items) => Value::Bool(items.iter().any(|item| truthy(&eval(item, subject)))),
        Expr::Compare(op, left, right) => {
            Value::Bool(compare(*op, &eval(left, subject), &eval(right, subject)))
        }
        Expr::InList(left, items) => {
            let left = eval(left, subject);
            Value::Bool(
                items
                    .iter()
                    .any(|item| compare(CompareOp::Eq, &left, &eval(item, subject))),
            )
        }
        Expr::InCollection(left, _) => Value::Bool(match eval(left, subject) {
            Value::Str { text, .. } => subject.in_group(&text),
            _ => false,
        }),
        Expr::Call(function, args) => call(*function, args, subject),
    }
}

fn compare(op: CompareOp, left: &Value<'_>, right: &Value<'_>) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (left, right) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Bool(l), Value::Bool(r)) => Some(l.cmp(r)),
        (Value::Int(l), Value::Int(r)) => Some(l.cmp(r)),
        (
            Value::Str {
                text: l,
                fold_case: lf,
            },
            Value::Str {
                text: r,
                fold_case: rf,
            },
        ) => Some(if *lf || *rf {
            l.to_lowercase().cmp(&r.to_lowercase())
        } else {
            l.cmp(r)
        }),
        _ => None,
    };
    match (op, ordering) {
        (CompareOp::Eq, ordering) => ordering == Some(Ordering::Equal),
        (CompareOp::Ne, ordering) => ordering != Some(Ordering::Equal),
        (_, None) => false,
        (CompareOp::Gt, Some(o)) => o.is_gt(),
        (CompareOp::Ge, Some(o)) => o.is_ge(),
        (CompareOp::Lt, Some(o)) => o.is_lt(),
        (CompareOp::Le, Some(o)) => o.is_le(),
    }
}

fn call<'a>(function: Function, args: &'a [Expr], subject: &'a impl FilterSubject) -> Value<'a> {
    let values: Vec<Value<'a>> = args.iter().map(|arg| eval(arg, subject)).collect();
    if function == Function::Length {
        return match values.first() {
            Some(Value::Groups) => Value::Int(subject.group_count().try_into().unwrap_or(i64::MAX)),
            Some(Value::Str { text, .. }) => {
                Value::Int(text.chars().count().try_into().unwrap_or(i64::MAX))
            }
            _ => Value::Null,
        };
    }
    // Every other function takes a string first; `null` in, `null` out.
    let Some(Value::Str {
        text: first,
        fold_case,
    }) = values.first()
    else {
        return Value::Null;
    };
    let fold_case = *fold_case;
    let second = values.get(1);
    let second_text = match second {
        Some(Value::Str { text, fold_case: f }) => Some((text.as_ref(), *f)),
        _ => None,
    };
    // Matching functions fold case when either side is a userId.
    let fold = |a: &str, b: &str, f: bool| -> (String, String) {
        if f {
            (a.to_lowercase(), b.to_lowercase())
        } else {
            (a.to_owned(), b.to_owned())
        }
    };
    match function {
        Function::ToLower => text(first.to_lowercase(), false),
        Function::ToUpper => text(first.to_uppercase(), false),
        Function::Trim => text(first.trim().to_owned(), fold_case),
        Function::Substring => {
            let int = |i: usize| match values.get(i) {
                Some(Value::Int(v)) => Some(*v),
                _ => None,
            };
            let (Some(start), length) = (int(1), int(2)) else {
                return Value::Null;
            };
            if values.len() == 3 && length.is_none() {
                return Value::Null;
            }
            let start = usize::try_from(start.max(0)).unwrap_or(usize::MAX);
            let length = length.map_or(usize::MAX, |l| {
                usize::try_from(l.max(0)).unwrap_or(usize::MAX)
            });
            text(
                first.chars().skip(start).take(length).collect::<String>(),
                fold_case,
            )
        }
        Function::Concat => match second_text {
            Some((second, f)) => text(format!("{first}{second}"), fold_case || f),
            None => Value::Null,
        },
        Function::StartsWith | Function::EndsWith | Function::Contains | Function::IndexOf => {
            let Some((second, f)) = second_text else {
                return Value::Null;
            };
            let (haystack, needle) = fold(first, second, fold_case || f);
            match function {
                Function::StartsWith => Value::Bool(haystack.starts_with(&needle)),
                Function::EndsWith => Value::Bool(haystack.ends_with(&needle)),
                Function::Contains => Value::Bool(haystack.contains(&needle)),
                _ => Value::Int(haystack.find(&needle).map_or(-1, |byte| {
                    haystack[..byte]
                        .chars()
                        .count()
                        .try_into()
                        .unwrap_or(i64::MAX)
                })),
            }
        }
        Function::Length => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Connection {
        id: &'static str,
        user: Option<&'static str>,
        protocol: Option<&'static str>,
        groups: Vec<&'static str>,
    }

    impl FilterSubject for Connection {
        fn connection_id(&self) -> &str {
            self.id
        }
        fn user_id(&self) -> Option<&str> {
            self.user
        }
        fn protocol(&self) -> Option<&str> {
            self.protocol
        }
        fn in_group(&self, group: &str) -> bool {
            self.groups.contains(&group)
        }
        fn group_count(&self) -> usize {
            self.groups.len()
        }
    }

    fn alice() -> Connection {
        Connection {
            id: "conn-1",
            user: Some("Alice"),
            protocol: Some("json.webpubsub.azure.v1"),
            groups: vec!["g1", "g2"],
        }
    }

    fn anonymous() -> Connection {
        Connection {
            id: "conn-2",
            user: None,
            protocol: None,
            groups: vec![],
        }
    }

    fn matches(source: &str, subject: &Connection) -> bool {
        ParsedFilter::parse(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
            .matches(subject)
    }

    #[test]
    fn evaluates_each_operator() {
        let a = alice();
        for (source, expected) in [
            ("userId eq 'alice'", true),
            ("userId eq 'ALICE'", true),
            ("userId ne 'alice'", false),
            ("connectionId eq 'CONN-1'", false),
            ("connectionId eq 'conn-1' and 'g1' in groups", true),
            ("'g3' in groups or 'g2' in groups", true),
            ("not ('g1' in groups)", false),
            ("userId in ('bob', 'alice')", true),
            ("connectionId in ('conn-2')", false),
            ("userId gt 'aaa' and userId lt 'b'", true),
            ("userId ge 'alice' and userId le 'alice'", true),
            ("length(groups) eq 2 and length(userId) eq 5", true),
            ("startswith(userId, 'al') and endswith(userId, 'CE')", true),
            (
                "contains(connectionId, 'n-1') and not contains(connectionId, 'N-1')",
                true,
            ),
            (
                "indexof(userId, 'ice') eq 2 and indexof(connectionId, 'x') eq -1",
                true,
            ),
            (
                "substring(userId, 1) eq 'lice' and substring(userId, 1, 2) eq 'li'",
                true,
            ),
            (
                "substring(userId, 10) eq '' and substring(userId, -3, 1) eq 'a'",
                true,
            ),
            (
                "tolower(userId) eq 'alice' and toupper(connectionId) eq 'CONN-1'",
                true,
            ),
            (
                "trim('  x ') eq 'x' and concat(userId, '!') eq 'alice!'",
                true,
            ),
            ("protocol eq 'json.webpubsub.azure.v1'", true),
            (
                "1 lt 2 and -1 lt 0 and true eq true and true ne false",
                true,
            ),
            ("userId eq null", false),
            ("false or (true and not false)", true),
        ] {
            assert_eq!(matches(source, &a), expected, "{source}");
        }
    }

    #[test]
    fn null_properties_of_an_anonymous_plain_connection() {
        let c = anonymous();
        for (source, expected) in [
            ("userId eq null", true),
            ("userId ne null", false),
            ("protocol eq null", true),
            ("userId eq 'alice'", false),
            ("userId ne 'alice'", true),
            ("userId gt 'a'", false),
            ("startswith(userId, 'a')", false),
            ("not startswith(userId, 'a')", true),
            ("length(userId) eq null", true),
            ("length(groups) eq 0", true),
            ("userId in ('a', null)", true),
            ("null in groups", false),
        ] {
            assert_eq!(matches(source, &c), expected, "{source}");
        }
    }

    #[test]
    fn escaped_quotes_match_the_quote() {
        let c = Connection {
            id: "c",
            user: Some("it's"),
            protocol: None,
            groups: vec!["o'g"],
        };
        assert!(matches("userId eq 'it''s' and 'o''g' in groups", &c));
    }

    #[test]
    fn unicode_positions_count_characters() {
        let c = Connection {
            id: "c",
            user: Some("ééx"),
            protocol: None,
            groups: vec![],
        };
        assert!(matches(
            "length(userId) eq 3 and indexof(userId, 'x') eq 2 and substring(userId, 1, 1) eq 'é'",
            &c
        ));
    }

    /// What the builder writes parses back and means what the builder said.
    mod builder_round_trip {
        use proptest::prelude::*;

        use super::*;
        use crate::filter::Filter;

        /// A builder call and its meaning, evaluated independently of the parser.
        #[derive(Debug, Clone)]
        enum Model {
            UserEq(String),
            UserNe(String),
            ConnectionEq(String),
            InGroup(String),
            UserIn(Vec<String>),
            StartsWith(String),
            EndsWith(String),
            Not(Box<Self>),
            And(Box<Self>, Box<Self>),
            Or(Box<Self>, Box<Self>),
        }

        fn build(model: &Model) -> Filter {
            match model {
                Model::UserEq(v) => Filter::user_id().eq(v.as_str()),
                Model::UserNe(v) => Filter::user_id().ne(v.as_str()),
                Model::ConnectionEq(v) => Filter::connection_id().eq(v.as_str()),
                Model::InGroup(v) => Filter::in_group(v),
                Model::UserIn(vs) => Filter::user_id().is_in(vs.iter().map(String::as_str)),
                Model::StartsWith(v) => Filter::user_id().starts_with(v),
                Model::EndsWith(v) => Filter::user_id().ends_with(v),
                Model::Not(m) => !build(m),
                Model::And(a, b) => build(a).and(build(b)),
                Model::Or(a, b) => build(a).or(build(b)),
            }
        }

        fn meaning(model: &Model, c: &Connection) -> bool {
            let user = c.user.unwrap_or_default().to_lowercase();
            match model {
                Model::UserEq(v) => user == v.to_lowercase(),
                Model::UserNe(v) => user != v.to_lowercase(),
                Model::ConnectionEq(v) => c.id == v,
                Model::InGroup(v) => c.groups.contains(&v.as_str()),
                Model::UserIn(vs) => vs.iter().any(|v| user == v.to_lowercase()),
                Model::StartsWith(v) => user.starts_with(&v.to_lowercase()),
                Model::EndsWith(v) => user.ends_with(&v.to_lowercase()),
                Model::Not(m) => !meaning(m, c),
                Model::And(a, b) => meaning(a, c) && meaning(b, c),
                Model::Or(a, b) => meaning(a, c) || meaning(b, c),
            }
        }

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("o'brien".to_owned()),
                Just("O'B".to_owned()),
                Just("ien".to_owned()),
                Just("room".to_owned()),
                Just("it's".to_owned()),
                Just("c1".to_owned()),
                "\\PC{0,6}",
            ]
        }

        fn model() -> impl Strategy<Value = Model> {
            let leaf = prop_oneof![
                value().prop_map(Model::UserEq),
                value().prop_map(Model::UserNe),
                value().prop_map(Model::ConnectionEq),
                value().prop_map(Model::InGroup),
                proptest::collection::vec(value(), 0..4).prop_map(Model::UserIn),
                value().prop_map(Model::StartsWith),
                value().prop_map(Model::EndsWith),
            ];
            leaf.prop_recursive(6, 48, 2, |inner| {
                prop_oneof![
                    inner.clone().prop_map(|m| Model::Not(Box::new(m))),
                    (inner.clone(), inner.clone())
                        .prop_map(|(a, b)| Model::And(Box::new(a), Box::new(b))),
                    (inner.clone(), inner).prop_map(|(a, b)| Model::Or(Box::new(a), Box::new(b))),
                ]
            })
        }

        proptest! {
            #[test]
            fn built_filters_parse_and_mean_what_was_built(model in model()) {
                let built = build(&model);
                let parsed = ParsedFilter::parse(built.as_str())
                    .map_err(|e| TestCaseError::fail(format!("{}: {e}", built.as_str())))?;
                let subject = Connection {
                    id: "c1",
                    user: Some("O'Brien"),
                    protocol: None,
                    groups: vec!["room", "it's"],
                };
                prop_assert_eq!(parsed.matches(&subject), meaning(&model, &subject), "{}", built.as_str());
            }
        }
    }
}
