//! What Twilio's error codes mean, in words for the backoffice.

/// A short explanation of a Twilio error code, when we know it.
pub fn describe(code: i64) -> Option<&'static str> {
    Some(match code {
        20003 => "Twilio rejected the credentials",
        20404 => "Twilio does not know this resource",
        20429 => "Too many requests to Twilio at once",
        21211 => "Invalid 'To' number",
        21408 => "Sending to this region is not enabled",
        21606 => "The 'From' number cannot send to this destination",
        21608 => "Trial accounts can only send to verified numbers",
        21610 => "The recipient has opted out (STOP)",
        21617 => "The message is longer than 1,600 characters",
        63003 => "The recipient is not on WhatsApp",
        63007 => "No WhatsApp sender with this 'From' address in the account",
        63016 => "Outside the 24-hour window: a template is needed",
        63018 => "The sender exceeded WhatsApp's rate limit",
        63024 => "Invalid message recipient",
        63032 => "WhatsApp does not deliver to this user",
        _ => return None,
    })
}
