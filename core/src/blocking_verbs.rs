//! The convenience verbs of the blocking clients (`get`, `post`, `put`, `delete`, ...), written
//! once as [`blocking_client_methods!`](crate::blocking_client_methods) for every blocking
//! adapter (proxmox-ureq, proxmox-cli), so that their surfaces cannot drift apart.

/// The convenience verbs of a blocking client, written once for every blocking adapter:
/// `get`, `get_with`, `post`, `put`, `delete`, `create`, `set` and `request`, all in terms of the
/// adapter's own `fn call_owned<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error>`, where
/// the adapter's `Error` implements `From<InputError>`. Use inside `impl Client { ... }`.
#[macro_export]
macro_rules! blocking_client_methods {
    () => {
        /// `GET path`.
        pub fn get<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            path: impl $crate::IntoApiPath,
        ) -> Result<T, Error> {
            self.call_owned($crate::Call::get(path)?)
        }

        /// `GET path` with query parameters from a `Serialize` struct or map.
        pub fn get_with<
            T: $crate::__serde::de::DeserializeOwned,
            P: $crate::__serde::Serialize + ?Sized,
        >(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> Result<T, Error> {
            self.call_owned($crate::Call::get(path)?.params_from(params)?)
        }

        /// `POST path` with form parameters (unset `Option`s dropped, booleans 1/0).
        pub fn post<
            T: $crate::__serde::de::DeserializeOwned,
            P: $crate::__serde::Serialize + ?Sized,
        >(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> Result<T, Error> {
            self.call_owned($crate::Call::post(path)?.params_from(params)?)
        }

        /// `PUT path`.
        pub fn put<
            T: $crate::__serde::de::DeserializeOwned,
            P: $crate::__serde::Serialize + ?Sized,
        >(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> Result<T, Error> {
            self.call_owned($crate::Call::put(path)?.params_from(params)?)
        }

        /// `DELETE path` with query parameters.
        pub fn delete<
            T: $crate::__serde::de::DeserializeOwned,
            P: $crate::__serde::Serialize + ?Sized,
        >(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> Result<T, Error> {
            self.call_owned($crate::Call::delete(path)?.params_from(params)?)
        }

        /// Alias of `post` (pvesh's verb).
        pub fn create<
            T: $crate::__serde::de::DeserializeOwned,
            P: $crate::__serde::Serialize + ?Sized,
        >(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> Result<T, Error> {
            self.post(path, params)
        }

        /// Alias of `put` (pvesh's verb).
        pub fn set<
            T: $crate::__serde::de::DeserializeOwned,
            P: $crate::__serde::Serialize + ?Sized,
        >(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> Result<T, Error> {
            self.put(path, params)
        }

        /// A call with explicit parameters.
        pub fn request<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            method: $crate::Method,
            path: impl $crate::IntoApiPath,
            params: $crate::Params,
        ) -> Result<T, Error> {
            self.call_owned($crate::Call::new(method, path)?.with_params(params))
        }
    };
}
