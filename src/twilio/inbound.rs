//! What a guest's message holds besides its text, read from the parameters of Twilio's inbound
//! webhook (every one is stored with the message): a shared location (`Latitude`, `Longitude`,
//! `Label`, `Address`) and a tapped reply button (`ButtonText`, `ButtonPayload`) or list item
//! (`ListTitle`, `ListId`).

use app::inbox::{Choice, SharedLocation};

/// The webhook's parameters, in the order Twilio sent them.
pub type Params = Vec<(String, String)>;

/// The longest name, address or button text kept: WhatsApp's own limits are far below it.
const MAX_TEXT_CHARS: usize = 1000;

/// The value of `name`, if present and not empty.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.trim().is_empty())
}

/// The parameters stored with a message (JSON of name/value pairs); none when unreadable.
pub fn stored(json: Option<&str>) -> Params {
    json.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
}

fn text(params: &[(String, String)], name: &str) -> Option<String> {
    param(params, name).map(|v| v.trim().chars().take(MAX_TEXT_CHARS).collect())
}

/// A coordinate as Twilio wrote it, if it is a decimal number of degrees within `limit`.
fn degrees(params: &[(String, String)], name: &str, limit: f64) -> Option<String> {
    let value = param(params, name)?.trim();
    let plain = !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-');
    let number: f64 = value.parse().ok().filter(|_| plain)?;
    (number.is_finite() && number.abs() <= limit).then(|| value.to_string())
}

/// The place the guest shared, when the message is a location with valid coordinates.
pub fn location(params: &[(String, String)]) -> Option<SharedLocation> {
    Some(SharedLocation {
        latitude: degrees(params, "Latitude", 90.0)?,
        longitude: degrees(params, "Longitude", 180.0)?,
        label: text(params, "Label"),
        address: text(params, "Address"),
    })
}

/// The reply button or list item the guest tapped, if the message is one.
pub fn choice(params: &[(String, String)]) -> Option<Choice> {
    if let Some(title) = text(params, "ListTitle") {
        return Some(Choice { text: title, id: text(params, "ListId") });
    }
    let button = text(params, "ButtonText");
    let payload = text(params, "ButtonPayload");
    match (button, payload) {
        (Some(text), id) => Some(Choice { text, id }),
        // A payload alone: the tap's text is the body.
        (None, Some(id)) => Some(Choice { text: text(params, "Body").unwrap_or_else(|| id.clone()), id: Some(id) }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_location_is_read_with_its_name_and_address() {
        let shared = params(&[
            ("MessageType", "location"),
            ("Body", ""),
            ("Latitude", "48.858370"),
            ("Longitude", "-2.294481"),
            ("Label", "Tour Eiffel"),
            ("Address", "Champ de Mars, Paris"),
        ]);
        let place = location(&shared).unwrap();
        assert_eq!((place.latitude.as_str(), place.longitude.as_str()), ("48.858370", "-2.294481"));
        assert_eq!(place.describe(), "Tour Eiffel, Champ de Mars, Paris (48.858370, -2.294481)");
        assert_eq!(
            place.map_url(),
            "https://www.openstreetmap.org/?mlat=48.858370&mlon=-2.294481#map=17/48.858370/-2.294481"
        );
        let bare = location(&params(&[("Latitude", "-33.9"), ("Longitude", "151.2")])).unwrap();
        assert_eq!(bare.describe(), "-33.9, 151.2");
    }

    #[test]
    fn coordinates_off_the_globe_or_not_numbers_are_no_location() {
        for (lat, lon) in
            [("91", "0"), ("0", "-180.5"), ("NaN", "0"), ("1e2", "0"), ("0", "inf"), ("", "1"), ("1", "2&x=3")]
        {
            assert_eq!(location(&params(&[("Latitude", lat), ("Longitude", lon)])), None, "{lat}, {lon}");
        }
        assert_eq!(location(&params(&[("Latitude", "1")])), None);
    }

    #[test]
    fn a_tapped_button_or_list_item_is_read_as_the_choice() {
        let button = params(&[("Body", "Late checkout"), ("ButtonText", "Late checkout"), ("ButtonPayload", "late")]);
        assert_eq!(choice(&button), Some(Choice { text: "Late checkout".into(), id: Some("late".into()) }));
        let item = params(&[("Body", "Spa"), ("ListTitle", "Spa"), ("ListId", "spa-1")]);
        assert_eq!(choice(&item), Some(Choice { text: "Spa".into(), id: Some("spa-1".into()) }));
        let payload_only = params(&[("Body", "Yes"), ("ButtonPayload", "confirm")]);
        assert_eq!(choice(&payload_only), Some(Choice { text: "Yes".into(), id: Some("confirm".into()) }));
        assert_eq!(choice(&params(&[("Body", "hello"), ("ButtonText", " ")])), None);
    }

    #[test]
    fn stored_parameters_read_back_as_they_were_and_garbage_as_none() {
        let p = params(&[("Latitude", "1"), ("Longitude", "2")]);
        assert_eq!(stored(Some(&serde_json::to_string(&p).unwrap())), p);
        assert!(stored(Some("{not json")).is_empty());
        assert!(stored(None).is_empty());
    }
}
