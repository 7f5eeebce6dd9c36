//! Choices an agent offers with a reply: up to three reply buttons, or a list of up to ten items.
//! On WhatsApp they go out as Twilio Content (`twilio/quick-reply`, `twilio/list-picker`) inside the
//! guest's 24-hour window; on SMS as numbered lines the guest answers with a number.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Reply buttons WhatsApp shows at most, and the longest title of one.
pub const MAX_BUTTONS: usize = 3;
const BUTTON_TITLE_CHARS: usize = 20;
/// List items WhatsApp shows at most, the longest title and description of one, and of the
/// button that opens the list.
pub const MAX_ITEMS: usize = 10;
const ITEM_TITLE_CHARS: usize = 24;
const DESCRIPTION_CHARS: usize = 72;
const LIST_BUTTON_CHARS: usize = 20;
/// The longest id an option may carry back, and the longest text that goes with choices.
const ID_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    /// The button that opens a list ("See times"); none for reply buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    pub options: Vec<Offer>,
}

/// One option: what the guest sees, and the id that comes back when they tap it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn text_field(v: &Value, name: &str) -> Option<String> {
    v[name].as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// An option as a brain wrote it: a text, or `{"title": …, "id": …, "description": …}`.
fn offer(v: &Value, max_title: usize, what: &str) -> Result<Offer, String> {
    let (title, id, description) = match v {
        Value::String(s) => (Some(s.trim().to_string()).filter(|s| !s.is_empty()), None, None),
        Value::Object(_) => (text_field(v, "title"), text_field(v, "id"), text_field(v, "description")),
        _ => (None, None, None),
    };
    let Some(title) = title else { return Err(format!("{what} without a title")) };
    if title.chars().count() > max_title {
        return Err(format!("{what} \"{title}\" is longer than {max_title} characters"));
    }
    let id = id.unwrap_or_else(|| title.clone());
    if id.chars().count() > ID_CHARS {
        return Err(format!("{what} \"{title}\" has an id longer than {ID_CHARS} characters"));
    }
    if description.as_ref().is_some_and(|d| d.chars().count() > DESCRIPTION_CHARS) {
        return Err(format!("{what} \"{title}\" has a description longer than {DESCRIPTION_CHARS} characters"));
    }
    Ok(Offer { id, title, description })
}

/// The choices of a brain's JSON answer: `"buttons": [...]` (texts, or objects with `title` and
/// `id`) or `"list": {"button": …, "items": [...]}` (items may have a `description`). `Ok(None)`
/// without either; an `Err` says why they cannot be sent as given.
pub fn from_answer(answer: &Value) -> Result<Option<Choices>, String> {
    let choices = match (&answer["buttons"], &answer["list"]) {
        (Value::Null, Value::Null) => return Ok(None),
        (Value::Array(buttons), Value::Null) => {
            if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                return Err(format!("{} buttons: 1 to {MAX_BUTTONS} may be offered", buttons.len()));
            }
            let options = buttons.iter().map(|b| offer(b, BUTTON_TITLE_CHARS, "a button")).collect::<Result<_, _>>()?;
            Choices { button: None, options }
        }
        (Value::Null, list @ Value::Object(_)) => {
            let Some(button) = text_field(list, "button") else {
                return Err("a list without the text of its button".into());
            };
            if button.chars().count() > LIST_BUTTON_CHARS {
                return Err(format!("the list's button is longer than {LIST_BUTTON_CHARS} characters"));
            }
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() || items.len() > MAX_ITEMS {
                return Err(format!("{} list items: 1 to {MAX_ITEMS} may be offered", items.len()));
            }
            let options = items.iter().map(|i| offer(i, ITEM_TITLE_CHARS, "a list item")).collect::<Result<_, _>>()?;
            Choices { button: Some(button), options }
        }
        _ => return Err("\"buttons\" is a list of up to 3 and \"list\" an object, not both".into()),
    };
    let mut ids: Vec<&str> = choices.options.iter().map(|o| o.id.as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err("two options share an id (or a title)".into());
    }
    Ok(Some(choices))
}

/// An FAQ answer's options, written at its end in brackets and separated by semicolons: "Pick
/// one: [Spa; Pool; Gym]". Up to three are buttons, more (up to ten) a list opened by "Options".
/// Gives the answer without them, and the choices; an answer without brackets at its end is
/// all text.
pub fn from_faq_answer(answer: &str) -> Result<(String, Option<Choices>), String> {
    let trimmed = answer.trim_end();
    let Some(open) = trimmed.strip_suffix(']').and_then(|rest| rest.rfind('[')) else {
        return Ok((answer.to_string(), None));
    };
    let titles: Vec<Value> = trimmed[open + 1..trimmed.len() - 1]
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Value::from)
        .collect();
    let text = trimmed[..open].trim_end().to_string();
    if titles.is_empty() {
        return Ok((answer.to_string(), None));
    }
    let written = if titles.len() <= MAX_BUTTONS {
        json!({ "buttons": titles })
    } else {
        json!({ "list": { "button": "Options", "items": titles } })
    };
    Ok((text, from_answer(&written)?))
}

impl Choices {
    /// The Content API's `types` for choices of this shape (buttons or a list, how many options,
    /// which have a description), every text a variable: the reply's text `{{1}}`, then the
    /// list's button and each option's title, id and description ([`Self::content_variables`]).
    /// One content per shape in an account, whatever the agent offers (and no guest's words nor
    /// an agent's options kept there: its samples are neutral, [`Self::samples`]): at most a few dozen, where a content per set of choices
    /// grew with every set a hook made up.
    pub fn content_types(&self) -> Value {
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("{{{{{n}}}}}")
        };
        // In the order of `texts`: fields are evaluated as written.
        let shape = Choices {
            button: self.button.as_ref().map(|_| next()),
            options: self
                .options
                .iter()
                .map(|o| Offer { title: next(), id: next(), description: o.description.as_ref().map(|_| next()) })
                .collect(),
        };
        shape.types_with("{{1}}")
    }

    /// The texts after the reply's, in the order of the content's variables.
    fn texts(&self) -> Vec<&str> {
        let mut texts: Vec<&str> = self.button.iter().map(String::as_str).collect();
        for o in &self.options {
            texts.extend([o.title.as_str(), o.id.as_str()]);
            texts.extend(o.description.as_deref());
        }
        texts
    }

    /// Sample values for the content's variables, as the Content API takes them: none of the
    /// agent's texts (a hook may make its options of a guest's name or booking), only what each is.
    pub fn samples(&self) -> Value {
        let mut samples = serde_json::Map::new();
        samples.insert("1".into(), Value::from("Your answer"));
        let mut n = 1;
        let mut sample = |what: String| {
            n += 1;
            samples.insert(n.to_string(), Value::from(what));
        };
        if self.button.is_some() {
            sample("Options".into());
        }
        for (i, o) in self.options.iter().enumerate() {
            sample(format!("Option {}", i + 1));
            sample(format!("option-{}", i + 1));
            if o.description.is_some() {
                sample(format!("About option {}", i + 1));
            }
        }
        Value::Object(samples)
    }

    /// `ContentVariables` for these choices with `body` as the reply's text: `{"1": body, "2": …}`.
    pub fn content_variables(&self, body: &str) -> Value {
        let mut variables = serde_json::Map::new();
        for (i, text) in std::iter::once(body).chain(self.texts()).enumerate() {
            variables.insert((i + 1).to_string(), Value::from(text));
        }
        Value::Object(variables)
    }

    /// The same with `body` in place of the variable (what WhatsApp shows).
    pub fn types_with(&self, body: &str) -> Value {
        match &self.button {
            None => json!({ "twilio/quick-reply": {
                "body": body,
                "actions": self.options.iter().map(|o| json!({ "type": "QUICK_REPLY", "title": o.title, "id": o.id })).collect::<Vec<_>>(),
            }}),
            Some(button) => json!({ "twilio/list-picker": {
                "body": body,
                "button": button,
                "items": self.options.iter().map(|o| {
                    let mut item = json!({ "item": o.title, "id": o.id });
                    if let Some(d) = &o.description {
                        item["description"] = json!(d);
                    }
                    item
                }).collect::<Vec<_>>(),
            }}),
        }
    }

    /// The choices as numbered lines under a text, for SMS.
    pub fn numbered(&self) -> String {
        let lines: Vec<String> =
            self.options.iter().enumerate().map(|(i, o)| format!("{}. {}", i + 1, o.title)).collect();
        format!("{}\nReply with a number.", lines.join("\n"))
    }

    /// The option a guest's answer picks by its number ("2", " 2. "), if it is one.
    pub fn picked(&self, answer: &str) -> Option<&Offer> {
        let n: usize = answer.trim().trim_end_matches('.').parse().ok()?;
        n.checked_sub(1).and_then(|i| self.options.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_and_lists_are_read_as_brains_write_them() {
        let answer = json!({ "reply": "When?", "buttons": ["Now", { "title": "Later", "id": "later" }] });
        let choices = from_answer(&answer).unwrap().unwrap();
        assert_eq!(choices.button, None);
        let ids: Vec<&str> = choices.options.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["Now", "later"]);
        let list = json!({ "list": { "button": "See times", "items": [
            { "title": "7:00", "id": "t7", "description": "Early" }, { "title": "8:00", "id": "t8" }
        ] } });
        let choices = from_answer(&list).unwrap().unwrap();
        assert_eq!(choices.button.as_deref(), Some("See times"));
        assert_eq!(choices.options[0].description.as_deref(), Some("Early"));
        assert_eq!(from_answer(&json!({ "reply": "hi" })).unwrap(), None);
    }

    #[test]
    fn choices_whatsapp_cannot_show_are_refused_with_the_reason() {
        for (answer, why) in [
            (json!({ "buttons": ["a", "b", "c", "d"] }), "4 buttons"),
            (json!({ "buttons": [] }), "0 buttons"),
            (json!({ "buttons": ["A title over twenty characters"] }), "longer than 20"),
            (json!({ "buttons": [{ "id": "x" }] }), "without a title"),
            (json!({ "buttons": ["Same", "Same"] }), "share an id"),
            (json!({ "list": { "items": [{ "title": "a" }] } }), "without the text of its button"),
            (json!({ "list": { "button": "Go", "items": [] } }), "0 list items"),
            (json!({ "buttons": ["a"], "list": { "button": "b", "items": ["c"] } }), "not both"),
            (json!({ "buttons": "yes" }), "not both"),
        ] {
            let error = from_answer(&answer).unwrap_err();
            assert!(error.contains(why), "{answer}: {error}");
        }
        let eleven: Vec<Value> = (0..11).map(|i| json!(format!("item {i}"))).collect();
        assert!(from_answer(&json!({ "list": { "button": "Go", "items": eleven } }))
            .unwrap_err()
            .contains("11 list items"));
    }

    #[test]
    fn a_content_is_the_shape_of_the_choices_and_its_variables_their_texts() {
        let buttons = from_answer(&json!({ "buttons": ["Yes", { "title": "No", "id": "no" }] })).unwrap().unwrap();
        assert_eq!(
            buttons.content_types(),
            json!({ "twilio/quick-reply": { "body": "{{1}}", "actions": [
                { "type": "QUICK_REPLY", "title": "{{2}}", "id": "{{3}}" }, { "type": "QUICK_REPLY", "title": "{{4}}", "id": "{{5}}" }
            ] } })
        );
        assert_eq!(
            buttons.content_variables("Book it?"),
            json!({ "1": "Book it?", "2": "Yes", "3": "Yes", "4": "No", "5": "no" })
        );
        // Other buttons of the same shape: the same content, other variables.
        let other = from_answer(&json!({ "buttons": ["Today", "Tomorrow"] })).unwrap().unwrap();
        assert_eq!(other.content_types(), buttons.content_types());
        assert_ne!(other.content_variables("Book it?"), buttons.content_variables("Book it?"));
        let list = from_answer(&json!({ "list": { "button": "Times", "items": [
            { "title": "7:00", "id": "t7", "description": "Early" }, { "title": "8:00", "id": "t8" }
        ] } }))
        .unwrap()
        .unwrap();
        assert_eq!(
            list.content_types(),
            json!({ "twilio/list-picker": { "body": "{{1}}", "button": "{{2}}", "items": [
                { "item": "{{3}}", "id": "{{4}}", "description": "{{5}}" }, { "item": "{{6}}", "id": "{{7}}" }
            ] } })
        );
        assert_eq!(
            list.content_variables("When?"),
            json!({ "1": "When?", "2": "Times", "3": "7:00", "4": "t7", "5": "Early", "6": "8:00", "7": "t8" })
        );
        // Filled in, the content is what WhatsApp shows.
        let filled = list
            .content_variables("When?")
            .as_object()
            .unwrap()
            .iter()
            .fold(list.content_types().to_string(), |types, (n, v)| {
                types.replace(&format!("{{{{{n}}}}}"), v.as_str().unwrap())
            });
        assert_eq!(serde_json::from_str::<Value>(&filled).unwrap(), list.types_with("When?"));
        // The samples the content is created with name every variable, and none of the texts.
        let samples = list.samples();
        assert_eq!(
            samples,
            json!({ "1": "Your answer", "2": "Options", "3": "Option 1", "4": "option-1", "5": "About option 1",
                    "6": "Option 2", "7": "option-2" })
        );
        assert_eq!(buttons.samples().as_object().unwrap().len(), 5);
    }

    #[test]
    fn content_types_follow_twilios_quick_reply_and_list_picker() {
        let buttons = from_answer(&json!({ "buttons": ["Yes", { "title": "No", "id": "no" }] })).unwrap().unwrap();
        assert_eq!(
            buttons.types_with("Book it?"),
            json!({ "twilio/quick-reply": { "body": "Book it?", "actions": [
                { "type": "QUICK_REPLY", "title": "Yes", "id": "Yes" }, { "type": "QUICK_REPLY", "title": "No", "id": "no" }
            ] } })
        );
        let list = from_answer(&json!({ "list": { "button": "Times", "items": [{ "title": "7:00", "id": "t7", "description": "Early" }] } }))
            .unwrap()
            .unwrap();
        assert_eq!(
            list.types_with("When?"),
            json!({ "twilio/list-picker": { "body": "When?", "button": "Times", "items": [
                { "item": "7:00", "id": "t7", "description": "Early" }
            ] } })
        );
    }

    #[test]
    fn an_faq_answer_ends_with_its_options_in_brackets() {
        let (text, choices) = from_faq_answer("Pick one: [Spa; Pool ; Gym]").unwrap();
        assert_eq!(text, "Pick one:");
        let choices = choices.unwrap();
        assert_eq!((choices.button, choices.options.len()), (None, 3));
        let many = (1..=5).map(|i| format!("Room {i}")).collect::<Vec<_>>().join("; ");
        let (_, list) = from_faq_answer(&format!("Which room? [{many}]")).unwrap();
        assert_eq!(list.unwrap().button.as_deref(), Some("Options"));
        for plain in ["Noon.", "See [the map] online", "Empty []"] {
            assert_eq!(from_faq_answer(plain).unwrap(), (plain.to_string(), None), "{plain}");
        }
        assert!(from_faq_answer("Too long: [An option far longer than twenty]")
            .unwrap_err()
            .contains("longer than 20"));
    }

    #[test]
    fn sms_choices_are_numbered_and_a_number_picks_one() {
        let choices = from_answer(&json!({ "buttons": ["Spa", "Pool"] })).unwrap().unwrap();
        assert_eq!(choices.numbered(), "1. Spa\n2. Pool\nReply with a number.");
        assert_eq!(choices.picked(" 2 ").map(|o| o.title.as_str()), Some("Pool"));
        assert_eq!(choices.picked("1.").map(|o| o.title.as_str()), Some("Spa"));
        assert_eq!(choices.picked("3"), None);
        assert_eq!(choices.picked("0"), None);
        assert_eq!(choices.picked("spa"), None);
    }
}
