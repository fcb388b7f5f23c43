//! `Config` as the `[init]` table of an image spec (`images/NAME.toml`), with
//! the `serde` feature. Every value is checked by the rules of
//! [`crate::rules`] as it is read, so a deserializer that knows positions
//! (toml) reports the line of the bad value; messages name the key as the
//! spec spells it (`init.services.name: invalid name ...`).
//!
//! Only the build tool enables this; the guest binary is built without it.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::config::{check_command, Service};
use crate::policy::Restart;
use crate::rules::{
    check_env_key, check_hostname, check_mount_field, check_mount_target, check_name,
    check_text, check_timeout, check_workdir,
    shown, DEFAULT_ONBOOT_TIMEOUT_SECS, DEFAULT_STOP_TIMEOUT_SECS,
};
use core::fmt;
use serde::de::{DeserializeSeed, Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Deserializes a `T` and checks it; a failed check names `key`.
fn checked<'de, D, T>(d: D, key: &str, check: impl FnOnce(&T) -> Result<(), String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let value = T::deserialize(d)?;
    check(&value).map_err(|e| D::Error::custom(format_args!("{key}: {e}")))?;
    Ok(value)
}

pub fn hostname<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, "init.hostname", |h: &String| check_hostname(h)).map(Some)
}

pub fn shell<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    checked(d, "init.shell", |a: &Vec<String>| check_command(a, &["user="])).map(Some)
}

pub fn workdir<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, "init.workdir", |v: &String| check_workdir(v)).map(Some)
}

pub fn user<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u32, u32)>, D::Error> {
    let text = String::deserialize(d)?;
    crate::rules::parse_user(&text).map(Some).map_err(|e| D::Error::custom(format_args!("init.user: {e}")))
}

pub fn mount_source<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "init.mounts.source", |v: &String| check_mount_field(v))
}

pub fn mount_target<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "init.mounts.target", |v: &String| check_mount_target(v))
}

pub fn mount_fstype<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "init.mounts.fstype", |v: &String| check_mount_field(v))
}

pub fn mount_options<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, "init.mounts.options", |v: &String| check_text(v)).map(Some)
}

pub fn onboot_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "init.onboot.name", |n: &String| check_name(n))
}

pub fn service_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "init.services.name", |n: &String| check_name(n))
}

pub fn onboot_command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked(d, "init.onboot.command", |a: &Vec<String>| check_command(a, &["timeout="]))
}

pub fn service_command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked(d, "init.services.command", |a: &Vec<String>| check_command(a, crate::config::SERVICE_OPTIONS))
}

pub fn onboot_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, "init.onboot.timeout", |s: &u32| check_timeout(*s))
}

pub fn stop_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, "init.services.stop_timeout", |s: &u32| check_timeout(*s))
}

pub fn onboot_timeout_default() -> u32 {
    DEFAULT_ONBOOT_TIMEOUT_SECS
}

pub fn stop_timeout_default() -> u32 {
    DEFAULT_STOP_TIMEOUT_SECS
}

/// A service with no `restart` key is always restarted.
pub fn restart_default() -> Restart {
    Restart::Always
}

pub fn restart<'de, D: Deserializer<'de>>(d: D) -> Result<Restart, D::Error> {
    let word = String::deserialize(d)?;
    Restart::from_word(&word).map_err(|e| D::Error::custom(format_args!("init.services.restart: {e}")))
}

/// The service list; names must be unique (each has its own log file).
pub fn services<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Service>, D::Error> {
    let list = Vec::<Service>::deserialize(d)?;
    for (i, s) in list.iter().enumerate() {
        if list[..i].iter().any(|t| t.name == s.name) {
            return Err(D::Error::custom(format_args!(
                "init.services: duplicate service name {}",
                shown(&s.name)
            )));
        }
    }
    Ok(list)
}

/// `env = { KEY = "VALUE", ... }`, in the order written. Keys are checked as
/// keys, so the error points at the bad key.
pub fn env<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    d.deserialize_map(EnvVisitor)
}

struct EnvVisitor;

impl<'de> Visitor<'de> for EnvVisitor {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of environment variables")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Vec::new();
        while let Some(key) = map.next_key_seed(EnvKey)? {
            let value: String = map.next_value_seed(EnvValue(&key))?;
            env.push((key, value));
        }
        Ok(env)
    }
}

struct EnvKey;

impl<'de> DeserializeSeed<'de> for EnvKey {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        checked(d, "init.env", |k: &String| check_env_key(k))
    }
}

struct EnvValue<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for EnvValue<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        checked(d, &format!("init.env.{}", self.0), |v: &String| check_text(v))
    }
}
