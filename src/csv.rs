//! CSV as Switchboard's downloads write it: every field quoted, no field read as a formula.

/// A CSV field, always quoted: a spreadsheet that splits on `;` (or tabs) would otherwise split an
/// unquoted field and let a formula start the second part. A leading formula character is
/// defused with an apostrophe, but for a negative number (a place's longitude), which is no formula.
fn field(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !negative_number(value);
    let value = if formula { format!("'{value}") } else { value.to_string() };
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// `-` then digits, with at most one decimal point among them.
fn negative_number(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('-') else { return false };
    digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
}

/// A line of fields, ending with CRLF.
pub fn line(fields: &[String]) -> String {
    let mut line = fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_never_formulas() {
        assert_eq!(field("plain"), "\"plain\"");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1555"), "\"'+1555\"");
        // In a locale whose spreadsheets split on `;`, the quotes keep this one field.
        assert_eq!(field("x;=cmd|' /C calc'!A0"), "\"x;=cmd|' /C calc'!A0\"");
        assert_eq!(line(&["a".into(), "b".into()]), "\"a\",\"b\"\r\n");
        // A negative number is data; anything else after a minus is defused.
        assert_eq!(field("-122.4194"), "\"-122.4194\"");
        assert_eq!(field("-7"), "\"-7\"");
        for risky in ["-", "-.", "-1.2.3", "-1+cmd", "-2-3", "- 1", "-1e5"] {
            assert_eq!(field(risky), format!("\"'{risky}\""), "{risky}");
        }
    }
}
