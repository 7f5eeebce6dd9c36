//! X-Twilio-Signature, exactly as Twilio's helper libraries compute it: the URL Twilio called,
//! then each decoded POST parameter (names in code-point order; repeated values sorted and
//! de-duplicated) as name + value, under HMAC-SHA1 keyed with the Auth Token, in base64.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// The classic signature, keyed with the Auth Token.
    HmacSha1,
    /// Webhooks configured with a SharedKey (`X-Twilio-Webhooks-Signature-Settings`).
    HmacSha256,
}

impl Algorithm {
    /// Reads `X-Twilio-Webhooks-Signature-Settings`; `None` for an algorithm we do not know,
    /// which must fail validation.
    pub fn from_settings_header(header: Option<&str>) -> Option<Self> {
        let Some(header) = header.filter(|h| !h.trim().is_empty()) else { return Some(Self::HmacSha1) };
        let algorithm = header
            .split(',')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(k, _)| k.trim() == "algorithm")
            .map(|(_, v)| v.trim());
        match algorithm {
            None => Some(Self::HmacSha1),
            Some("HMAC_SHA1") => Some(Self::HmacSha1),
            Some("HMAC_SHA256") => Some(Self::HmacSha256),
            Some(_) => None,
        }
    }
}

/// The string Twilio signs for a form-encoded request.
pub fn string_to_sign(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut data = String::with_capacity(url.len() + sorted.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
    data.push_str(url);
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    data
}

fn mac_bytes(algorithm: Algorithm, key: &str, data: &str) -> Vec<u8> {
    match algorithm {
        Algorithm::HmacSha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// The signature Twilio would send for this request.
pub fn compute(algorithm: Algorithm, key: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac_bytes(algorithm, key, &string_to_sign(url, params)))
}

fn verify(algorithm: Algorithm, key: &str, url: &str, params: &[(String, String)], expected: &[u8]) -> bool {
    let data = string_to_sign(url, params);
    match algorithm {
        Algorithm::HmacSha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
            mac.update(data.as_bytes());
            mac.verify_slice(expected).is_ok()
        }
        Algorithm::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
            mac.update(data.as_bytes());
            mac.verify_slice(expected).is_ok()
        }
    }
}

/// The two spellings of a URL Twilio may have signed: without an explicit port and with the
/// scheme's default one. The URL as configured is tried first.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else { return variants };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    // A port is what follows the last ':' unless that colon is inside an IPv6 literal.
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => (h, Some(p)),
        _ => (hostport, None),
    };
    match port {
        Some(_) => variants.push(format!("{scheme}://{userinfo}{host}{tail}")),
        None => {
            let default = match scheme {
                "https" => "443",
                "http" => "80",
                _ => return variants,
            };
            variants.push(format!("{scheme}://{userinfo}{host}:{default}{tail}"));
        }
    }
    variants
}

/// Whether `signature` is valid for a form-encoded request to `url` with `params`.
pub fn validate(algorithm: Algorithm, key: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else { return false };
    url_variants(url).iter().any(|u| verify(algorithm, key, u, params, &expected))
}

/// Validation of a JSON body: the signature covers the URL (whose query carries `bodySHA256`)
/// with no parameters, and the body must hash to `bodySHA256`.
pub fn validate_json_body(algorithm: Algorithm, key: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(query) = url.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or(q)) else { return false };
    let Some(claimed) =
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "bodySHA256").map(|(_, v)| v.into_owned())
    else {
        return false;
    };
    let actual: String = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    // Both are public values; the comparison need not be constant-time, the signature check is.
    actual == claimed && validate(algorithm, key, url, &[], signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        auth_token: String,
        url: String,
        content_type: Option<String>,
        params: Option<serde_json::Value>,
        raw_body: Option<String>,
        string_to_sign: String,
        algorithm: String,
        expected_signature: String,
    }

    fn params_of(v: &Option<serde_json::Value>) -> Vec<(String, String)> {
        let s = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
        match v {
            Some(serde_json::Value::Object(map)) => map
                .iter()
                .flat_map(|(k, v)| match v {
                    serde_json::Value::Array(items) => items.iter().map(|i| (k.clone(), s(i))).collect::<Vec<_>>(),
                    other => vec![(k.clone(), s(other))],
                })
                .collect(),
            Some(serde_json::Value::Array(pairs)) => pairs.iter().map(|p| (s(&p[0]), s(&p[1]))).collect(),
            _ => Vec::new(),
        }
    }

    fn vectors() -> Vec<Vector> {
        // A copy of shared/twilio/signature_vectors.json: computed by Twilio's own helper library.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/twilio_signature_vectors.json");
        let text = std::fs::read_to_string(path).expect("the signature vectors fixture");
        serde_json::from_str::<Vectors>(&text).unwrap().vectors
    }

    #[test]
    fn every_official_vector_validates() {
        let all = vectors();
        assert_eq!(all.len(), 12, "the vector file has twelve vectors");
        for v in all {
            let algorithm = match v.algorithm.as_str() {
                "HMAC_SHA1" => Algorithm::HmacSha1,
                "HMAC_SHA256" => Algorithm::HmacSha256,
                other => panic!("unknown algorithm {other}"),
            };
            let json = v.content_type.as_deref().is_some_and(|c| c.contains("json"));
            let ok = if json {
                validate_json_body(
                    algorithm,
                    &v.auth_token,
                    &v.url,
                    v.raw_body.as_deref().unwrap_or("").as_bytes(),
                    &v.expected_signature,
                )
            } else {
                let params = params_of(&v.params);
                validate(algorithm, &v.auth_token, &v.url, &params, &v.expected_signature)
            };
            assert!(ok, "vector {} must validate", v.name);
        }
    }

    #[test]
    fn string_to_sign_matches_the_helper_library_for_form_vectors() {
        for v in vectors().into_iter().filter(|v| !v.content_type.as_deref().is_some_and(|c| c.contains("json"))) {
            let params = params_of(&v.params);
            // The stored string was built from the URL that was signed, which may differ in port.
            let signed_url = v.string_to_sign.split_at(v.string_to_sign.len() - string_to_sign("", &params).len()).0;
            assert_eq!(string_to_sign(signed_url, &params), v.string_to_sign, "vector {}", v.name);
        }
    }

    #[test]
    fn tampered_requests_fail() {
        let params =
            vec![("Body".to_string(), "hi".to_string()), ("From".to_string(), "whatsapp:+15550001111".to_string())];
        let url = "https://sb.example.com/twilio/inbound/key";
        let sig = compute(Algorithm::HmacSha1, "secret", url, &params);
        assert!(validate(Algorithm::HmacSha1, "secret", url, &params, &sig));
        assert!(!validate(Algorithm::HmacSha1, "other", url, &params, &sig));
        assert!(!validate(Algorithm::HmacSha1, "secret", "https://sb.example.com/twilio/inbound/other", &params, &sig));
        let mut changed = params.clone();
        changed[0].1 = "hi!".into();
        assert!(!validate(Algorithm::HmacSha1, "secret", url, &changed, &sig));
        assert!(!validate(Algorithm::HmacSha1, "secret", url, &params, "not base64!"));
        assert!(!validate(Algorithm::HmacSha1, "secret", url, &params, ""));
    }

    #[test]
    fn unknown_signature_algorithm_is_refused() {
        assert_eq!(Algorithm::from_settings_header(None), Some(Algorithm::HmacSha1));
        assert_eq!(Algorithm::from_settings_header(Some("key=KS1,algorithm=HMAC_SHA256")), Some(Algorithm::HmacSha256));
        assert_eq!(Algorithm::from_settings_header(Some("key=KS1")), Some(Algorithm::HmacSha1));
        assert_eq!(Algorithm::from_settings_header(Some("key=KS1,algorithm=MD5")), None);
    }

    #[test]
    fn port_variants_cover_default_and_explicit_ports() {
        assert_eq!(url_variants("https://a.com/x?y=1"), vec!["https://a.com/x?y=1", "https://a.com:443/x?y=1"]);
        assert_eq!(url_variants("http://127.0.0.1:3000/x"), vec!["http://127.0.0.1:3000/x", "http://127.0.0.1/x"]);
    }
}
