//! Statements written once for both databases: `$N` placeholders with their values, which keep
//! their type when NULL; on SQLite a group of them runs as one script with positional parameters.

use sqlx::{any::AnyRow, AnyConnection};

/// A value bound to a `$N` placeholder of a [`Statement`]. A NULL keeps its type: PostgreSQL
/// needs it (`COALESCE($1, error_code)` with a text NULL is an error there).
#[derive(Debug, Clone)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}

/// One statement of a [`Db::write_script`], numbering its own placeholders from `$1`.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), args: Vec::new() }
    }

    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }
}

impl Statement {
    /// Runs the statement on a connection (a transaction's, say) and returns its rows.
    pub async fn run(self, conn: &mut AnyConnection) -> sqlx::Result<Vec<AnyRow>> {
        bind_all(sqlx::query(&self.sql), self.args).fetch_all(conn).await
    }
}

/// A condition that statements carry (`… WHERE <condition>`), with its parameters, numbered
/// from `$1`; a statement made from it numbers its own parameters from [`Condition::next`].
#[derive(Debug, Clone)]
pub struct Condition {
    pub sql: String,
    pub args: Vec<Value>,
}

impl Condition {
    /// No condition.
    pub fn always() -> Self {
        Self { sql: "1 = 1".into(), args: Vec::new() }
    }

    pub fn new(sql: impl Into<String>, args: Vec<Value>) -> Self {
        Self { sql: sql.into(), args }
    }

    /// The number of the statement's first own parameter.
    pub fn next(&self) -> usize {
        self.args.len() + 1
    }

    /// A statement of `sql` (which may refer to the condition's parameters), with them bound.
    pub fn statement(&self, sql: String) -> Statement {
        Statement { sql, args: self.args.clone() }
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

pub(super) fn bind_all(mut query: AnyQuery<'_>, args: Vec<Value>) -> AnyQuery<'_> {
    for arg in args {
        query = match arg {
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
        };
    }
    query
}

/// Appends `statement` to a SQLite script with each `$N` written as an anonymous `?` and the
/// values pushed in the order the placeholders appear (a value used twice is bound twice).
/// sqlx looks every named parameter up by its position, and SQLite finds a name by walking the
/// statement's whole list of names: a batch of hundreds of `$N` cost time in the square of its
/// size (a twentieth of the writer's time in `perf`); anonymous ones have no names to find.
/// Each value moves to its first use; only a value used again is copied (a message's
/// parameters are kilobytes).
pub(super) fn positional(statement: Statement, sql: &mut String, args: &mut Vec<Value>) {
    let Statement { sql: text, args: mut values } = statement;
    // Where in `args` each value went at its first use.
    let mut placed: Vec<Option<usize>> = vec![None; values.len()];
    let mut rest = text.as_str();
    while let Some(at) = rest.find('$') {
        sql.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let Ok(n) = rest[at + 1..at + 1 + digits].parse::<usize>() else {
            sql.push('$');
            rest = &rest[at + 1..];
            continue;
        };
        sql.push('?');
        let value = match n.checked_sub(1) {
            Some(i) if i < values.len() => match placed[i] {
                Some(first) => args[first].clone(),
                None => {
                    placed[i] = Some(args.len());
                    std::mem::replace(&mut values[i], Value::Text(None))
                }
            },
            // As SQLite treats a parameter left unbound: NULL.
            _ => Value::Text(None),
        };
        args.push(value);
        rest = &rest[at + 1 + digits..];
    }
    sql.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::{positional, Statement};

    #[test]
    fn placeholders_become_positional_with_their_values_in_order() {
        let mut sql = String::new();
        let mut args = Vec::new();
        let first = Statement::new("SELECT $2, $1, $2, $3").bind(1).bind("two");
        let second = Statement::new("UPDATE t SET a = $1 WHERE b = '$x'").bind(3);
        for statement in [first, second] {
            positional(statement, &mut sql, &mut args);
            sql.push(';');
        }
        assert_eq!(sql, "SELECT ?, ?, ?, ?;UPDATE t SET a = ? WHERE b = '$x';");
        let shown: Vec<String> = args.iter().map(|v| format!("{v:?}")).collect();
        // A value used twice is bound twice; one never bound is NULL, as SQLite would have it.
        assert_eq!(shown, ["Text(Some(\"two\"))", "Int(Some(1))", "Text(Some(\"two\"))", "Text(None)", "Int(Some(3))"]);
    }
}
