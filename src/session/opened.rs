//! A small cache of session cookies already opened and authenticated in this process, keyed by
//! the exact sealed value, so a browser's repeated requests skip base64, AES-GCM and JSON on the
//! hot path. A hit needs the full value to be equal to one that decrypted and parsed before;
//! expiry and access checks still run on every request. It lives in one config generation, so a
//! reload (for example removing a cookie key) empties it.
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use super::SessionData;

/// One cached entry: the full sealed value and what it opened to.
type Entry = (Box<str>, Arc<SessionData>);

/// Opened sessions by sealed cookie value.
pub struct OpenedSessions {
    map: Mutex<HashMap<u64, Entry>>,
    hasher: std::collections::hash_map::RandomState,
    capacity: usize,
}

impl OpenedSessions {
    /// A cache of at most `capacity` sessions (0 disables it).
    pub fn new(capacity: usize) -> Self {
        OpenedSessions {
            map: Mutex::new(HashMap::new()),
            hasher: Default::default(),
            capacity,
        }
    }

    /// Bucket key: the sealed value starts with a fresh random nonce, so its first bytes and its
    /// length spread well; equality is always decided on the full value.
    fn key(&self, sealed: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(sealed.as_bytes().get(..48).unwrap_or(sealed.as_bytes()));
        h.write_usize(sealed.len());
        h.finish()
    }

    /// The session this exact sealed value opened to before, if cached.
    pub fn get(&self, sealed: &str) -> Option<Arc<SessionData>> {
        if self.capacity == 0 {
            return None;
        }
        let key = self.key(sealed);
        let map = self.map.lock().ok()?;
        match map.get(&key) {
            Some((value, data)) if value.as_ref() == sealed => Some(data.clone()),
            _ => None,
        }
    }

    /// Remembers that `sealed` opens to `data`. When full, starts over (bounded memory, no
    /// bookkeeping on the hot path).
    pub fn insert(&self, sealed: &str, data: Arc<SessionData>) {
        if self.capacity == 0 {
            return;
        }
        let key = self.key(sealed);
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity && !map.contains_key(&key) {
                map.clear();
            }
            map.insert(key, (sealed.into(), data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn data(sub: &str) -> Arc<SessionData> {
        let id = Identity {
            sub: sub.into(),
            email: None,
            email_verified: false,
            name: None,
            preferred_username: None,
            groups: vec![],
        };
        Arc::new(SessionData::new(id, None, 1, None, None))
    }

    #[test]
    fn hit_only_on_the_exact_value() {
        let c = OpenedSessions::new(4);
        let v = "AZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ-tail-1";
        c.insert(v, data("a"));
        assert_eq!(c.get(v).unwrap().identity.sub, "a");
        // Same prefix and length (same bucket), different tail: a miss, never the cached session.
        assert!(c
            .get("AZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ-tail-2")
            .is_none());
        assert!(c.get("something else").is_none());
    }

    #[test]
    fn bounded() {
        let c = OpenedSessions::new(3);
        for i in 0..10 {
            c.insert(&format!("value-{i}"), data("x"));
        }
        assert!(c.map.lock().unwrap().len() <= 3);
        assert!(c.get("value-9").is_some());
        let off = OpenedSessions::new(0);
        off.insert("v", data("x"));
        assert!(off.get("v").is_none());
    }
}
