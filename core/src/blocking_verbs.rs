//! The convenience verbs of the blocking clients (`get`, `post`, `put`, `delete`, ...), written
//! once as [`blocking_client_methods!`](crate::blocking_client_methods) for every blocking
//! adapter (proxmox-ureq, proxmox-cli), so that their surfaces cannot drift apart.

/// The convenience verbs of a blocking client, written once for every blocking adapter:
/// `get`, `get_with`, `post`, `put`, `delete`, `create`, `set` and `request`, all in terms of the
/// adapter's own `fn call_owned<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error>`, where
/// the adapter's `Error` implements `From<InputError>`. Use inside `impl Client { ... }`.
#[macro_export]
macro_rules! blocking_client_methods {
    ($krate:literal) => {
        /// `GET path`.
        #[doc = $crate::__example!($krate, blocking, "let nodes: Vec<serde_json::Value> = client.get(\"nodes\")" AWAIT "?;")]
        pub fn get<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            path: impl $crate::IntoApiPath,
        ) -> Result<T, Error> {
            self.call_owned($crate::Call::get(path)?)
        }

        /// `GET path` with query parameters from a `Serialize` struct or map.
        #[doc = $crate::__example!($krate, blocking, "let vms: Vec<models::ClusterResource> =\n    client.get_with(\"cluster/resources\", &[(\"type\", \"vm\")])" AWAIT "?;")]
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
        #[doc = $crate::__example!($krate, blocking, "let upid: Upid = client.post((\"nodes\", \"pve1\", \"qemu\", 100, \"status\", \"start\"), &())" AWAIT "?;")]
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
        #[doc = $crate::__example!($krate, blocking, "let _: serde_json::Value = client\n    .put((\"nodes\", \"pve1\", \"qemu\", 100, \"config\"), &[(\"description\", \"web\")])" AWAIT "?;")]
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
        #[doc = $crate::__example!($krate, blocking, "let upid: Upid = client.delete((\"nodes\", \"pve1\", \"qemu\", 100), &[(\"purge\", 1)])" AWAIT "?;")]
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
        #[doc = $crate::__example!($krate, blocking, "let upid: Upid = client\n    .create((\"nodes\", \"pve1\", \"qemu\"), &serde_json::json!({\"vmid\": 200, \"memory\": 512}))" AWAIT "?;")]
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
        #[doc = $crate::__example!($krate, blocking, "let _: serde_json::Value = client\n    .set((\"nodes\", \"pve1\", \"qemu\", 100, \"config\"), &[(\"onboot\", 1)])" AWAIT "?;")]
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
        #[doc = $crate::__example!($krate, blocking, "let params = Params::new().with(\"type\", \"vm\");\nlet all: serde_json::Value = client.request(Method::Get, \"cluster/resources\", params)" AWAIT "?;")]
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

/// The flow methods of a blocking client, written once for every blocking adapter
/// (proxmox-ureq, proxmox-cli): `upload` (over the adapter's `upload_as`), tasks (`wait_task`, `wait_tasks`, `task_log`,
/// `follow_task_log`, `cancel_task`), files (`discover_checksum`, `download_url`) and the
/// guest agent (`agent_exec`, `agent_exec_argv`), and `watch_resources` (a
/// [`ResourceWatch`](crate::resources::ResourceWatch) over `get`). Each is one run of the adapter's driver
/// loop over a flow of its [`ClientCore`](crate::flow::ClientCore); what the runtime cannot do
/// is refused from the [capability table](crate::capability). The adapter provides
/// `fn core(&self) -> &ClientCore`, `fn runtime(&self) -> Runtime`,
/// `fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error>` and
/// `fn run_with<F: Flow>(&self, flow: F, on_event: &mut dyn FnMut(Event)) -> Result<F::Output, Error>`.
#[macro_export]
macro_rules! blocking_flow_methods {
    ($krate:literal) => {
        /// Watch the cluster's state: an endless iterator of the changes between successive
        /// `GET /cluster/resources` snapshots, one every `interval` (the first snapshot is the
        /// baseline; a failed poll is an `Err` item and the watch goes on). The iterator
        /// returns only when something changed; `next_batch()` returns after every poll. A state diff: what
        /// comes and goes within one interval is not seen. See
        /// `proxmox_proto::resources::ChangeFeed` for what counts as a change.
        #[doc = $crate::__example!($krate, blocking, "for change in client.watch_resources(std::time::Duration::from_secs(5)).take(10) {\n    println!(\"{}\", change?);\n}")]
        pub fn watch_resources(
            &self,
            interval: ::std::time::Duration,
        ) -> $crate::resources::ResourceWatch<
            impl FnMut() -> Result<Vec<$crate::models::ClusterResource>, Error> + '_,
            fn(::std::time::Duration),
        > {
            $crate::resources::ResourceWatch::new(
                interval,
                move || self.get::<Vec<$crate::models::ClusterResource>>(("cluster", "resources")),
                ::std::thread::sleep as fn(::std::time::Duration),
            )
        }

        /// Upload a local file to `storage` on `node` as `content` (iso, vztmpl, import),
        /// stored under its own file name (see `upload_as` for how it travels, another name,
        /// and a progress callback). Returns the UPID of the server's import task.
        #[doc = $crate::__example!($krate, blocking, "let upid = client.upload(\"pve1\", \"local\", UploadContent::Iso, \"debian.iso\", UploadChecksum::None)?;\nclient.wait_task_ok(&upid, WaitOptions::default())?;")]
        pub fn upload(
            &self,
            node: &str,
            storage: &str,
            content: $crate::upload::UploadContent,
            path: impl AsRef<::std::path::Path>,
            checksum: $crate::upload::UploadChecksum,
        ) -> Result<$crate::Upid, Error> {
            let path = path.as_ref();
            let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                Error::Config(format!("{} has no usable file name", path.display()))
            })?;
            self.upload_as(node, storage, content, path, name, checksum, &mut |_, _| {})
        }

        $crate::__flow_methods!($krate, blocking; ;);
    };
}

/// The flow methods of every client, blocking or async (see [`blocking_flow_methods!`] and
/// [`async_flow_methods!`]): `async fn` and `.await` when given `async await`, the callbacks
/// `+ Send` when given `Send`.
#[doc(hidden)]
#[macro_export]
macro_rules! __flow_methods {
    ($krate:literal, $mode:ident; $($async:ident $await:ident)?; $($send:ident)?) => {
        /// Wait for a task to end. `progress` sees every status answer (e.g. to draw a
        /// spinner). The outcome says `Ok`, `Warnings(n)` (a success), `Failed` with the log
        /// tail, or `TimedOut`; request failures that the waiter gave up on end as
        /// `TaskOutcome::Error`.
        #[doc = $crate::__example!($krate, $mode, "# let upid: Upid = \"UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:\".parse()?;\n" "let outcome = client.wait_task(&upid, WaitOptions::default(), |status| eprintln!(\"{status:?}\"))" AWAIT "?;\nif !outcome.is_success() {\n    eprintln!(\"{outcome:?}\");\n}")]
        pub $($async)? fn wait_task(
            &self,
            upid: &$crate::Upid,
            options: $crate::task::WaitOptions,
            mut progress: impl FnMut(&$crate::task::TaskStatus) $(+ $send)?,
        ) -> Result<$crate::task::TaskOutcome, Error> {
            let flow = self.core().wait_task(upid.clone(), options);
            self.run_with(flow, &mut |e| {
                if let $crate::flow::Event::TaskStatus(s) = &e {
                    progress(s);
                }
            })
            $(.$await)?
        }

        /// Wait for a task to end and make its outcome a `Result`: `Ok(warnings)` (0 for `OK`,
        /// n for `WARNINGS: n`), or `Error::Task` naming the task with its exit status and
        /// log tail when it failed, or when it was still running as `options`' timeout passed
        /// (it keeps running then).
        #[doc = $crate::__example!($krate, $mode, "# let upid: Upid = \"UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:\".parse()?;\n" "let warnings = client.wait_task_ok(&upid, WaitOptions::default())" AWAIT "?;")]
        pub $($async)? fn wait_task_ok(
            &self,
            upid: &$crate::Upid,
            options: $crate::task::WaitOptions,
        ) -> Result<u64, Error> {
            let flow = self.core().wait_task(upid.clone(), options);
            Ok(self.run(flow)$(.$await)??.into_result(upid)?)
        }

        /// Discover the cluster: which endpoint is which node (calls for `/nodes/{n}/…` then
        /// go to node `n`), endpoints for nodes not given (at the addresses the cluster
        /// reports, or those given with `node_address`), and each node's certificate
        /// fingerprint. Without `Sys.Audit` on `/`, only `/nodes` is read (no addresses:
        /// `addresses_known` is false).
        #[doc = $crate::__example!($krate, $mode, "let map = client.discover()" AWAIT "?;\nprintln!(\"{} nodes\", map.nodes.len());")]
        pub $($async)? fn discover(&self) -> Result<$crate::cluster::ClusterMap, Error> {
            $crate::capability::require(
                self.runtime(),
                $crate::capability::Capability::ClusterEndpoints,
            )?;
            self.run(self.core().discover())$(.$await)?
        }

        /// A call for guest `vmid` (VM or container) wherever it runs: `call`'s path is
        /// relative to the guest (`status/current`, `config`, `status/start`). The guest's
        /// node comes from `/cluster/resources` (remembered by the client); when that node
        /// answers that the guest's configuration does not exist there (it migrated), the
        /// client looks again and tries once more at the new node. The call had not run
        /// (PVE loads the configuration first), so a write is re-routed too. Returns `data`.
        #[doc = $crate::__example!($krate, $mode, "let status: serde_json::Value =\n    client.guest_call(100, Call::get(\"status/current\")?)" AWAIT "?;")]
        pub $($async)? fn guest_call<T: $crate::__serde::de::DeserializeOwned + Send + 'static>(
            &self,
            vmid: u32,
            call: $crate::Call,
        ) -> Result<T, Error> {
            self.run(self.core().guest_call::<T>(vmid, call))$(.$await)?
        }

        /// A SPICE session for a VM or container (`spiceproxy`; a node's shell: `spiceshell`,
        /// which refuses API tokens): the `[virt-viewer]` fields for remote-viewer, with
        /// `proxy` the SPICE proxy to go through (the node's address when `None`). The
        /// password stays out of `Debug`; native clients write the file with `write_vv`
        /// (mode 0600).
        #[doc = $crate::__example!($krate, $mode, "let target = ConsoleTarget::Qemu { node: \"pve1\".into(), vmid: 100 };\nlet vv = client.spice(&target, None)" AWAIT "?;\nprintln!(\"{:?}\", vv.get(\"host\"));")]
        pub $($async)? fn spice(
            &self,
            target: &$crate::flow::ConsoleTarget,
            proxy: Option<&str>,
        ) -> Result<$crate::console::spice::SpiceConfig, Error> {
            let call = $crate::console::spice::spice_call(target, proxy)?;
            let label = self.core().label(&call);
            let flow = self
                .core()
                .data_call::<$crate::__serde_json::Value>(call, &$crate::flow::CallOptions::default());
            let data = self.run(flow)$(.$await)??;
            Ok($crate::console::spice::SpiceConfig::from_value(&data)
                .map_err(|e| e.with_request(label))?)
        }

        /// The server's own API schema, fetched from the node's API viewer (PVE
        /// `/pve-docs/api-viewer/apidoc.js`; PBS `/docs/…`, PMG `/pmg-docs/…`) on the client's
        /// origin and path prefix, without credentials. A 404 means the docs package is not
        /// installed: the error says so. Give it to a client's `.schema()` to check calls.
        #[cfg(feature = "schema")]
        #[doc = $crate::__example!($krate, $mode, "let schema = client.fetch_schema()" AWAIT "?;\nprintln!(\"{:?}\", schema.stats());")]
        pub $($async)? fn fetch_schema(&self) -> Result<$crate::schema::Schema, Error> {
            self.run(self.core().fetch_schema())$(.$await)?
        }

        /// Wait for many tasks at once: one task-list request per node per tick, a task's own
        /// status only when the list cannot settle it (see `proxmox_proto::task::TaskWatcher`);
        /// outcomes in input order.
        #[doc = $crate::__example!($krate, $mode, "# let upid: Upid = \"UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:\".parse()?;\n" "let outcomes = client.wait_tasks(&[upid], WaitOptions::default())" AWAIT "?;")]
        pub $($async)? fn wait_tasks(
            &self,
            upids: &[$crate::Upid],
            options: $crate::task::WaitOptions,
        ) -> Result<Vec<$crate::task::TaskOutcome>, Error> {
            self.run(self.core().wait_tasks(upids, options))$(.$await)?
        }

        /// The whole log of a task, page by page (500 lines a request).
        #[doc = $crate::__example!($krate, $mode, "# let upid: Upid = \"UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:\".parse()?;\n" "for line in client.task_log(&upid)" AWAIT "? {\n    println!(\"{:>4} {}\", line.n, line.t);\n}")]
        pub $($async)? fn task_log(&self, upid: &$crate::Upid) -> Result<Vec<$crate::task::LogLine>, Error> {
            self.run(self.core().read_log(upid.clone(), None))$(.$await)?
        }

        /// A window of a task's log: `limit` lines from line `start` (0-based), in one
        /// request, as the node's `start`/`limit` parameters; fewer at the end of the log.
        #[doc = $crate::__example!($krate, $mode, "# let upid: Upid = \"UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:\".parse()?;\n" "let first_ten = client.task_log_window(&upid, 0, 10)" AWAIT "?;")]
        pub $($async)? fn task_log_window(
            &self,
            upid: &$crate::Upid,
            start: u64,
            limit: u64,
        ) -> Result<Vec<$crate::task::LogLine>, Error> {
            self.run(self.core().read_log(upid.clone(), Some((start, limit))))$(.$await)?
        }

        /// Follow a task's log while it runs: `on_lines` gets every new line once, in order.
        /// Returns how the task ended.
        #[doc = $crate::__example!($krate, $mode, "# let upid: Upid = \"UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:\".parse()?;\n" "let outcome = client\n    .follow_task_log(&upid, WaitOptions::default(), |lines| lines.iter().for_each(|l| println!(\"{}\", l.t)))" AWAIT "?;")]
        pub $($async)? fn follow_task_log(
            &self,
            upid: &$crate::Upid,
            options: $crate::task::WaitOptions,
            mut on_lines: impl FnMut(&[$crate::task::LogLine]) $(+ $send)?,
        ) -> Result<$crate::task::TaskOutcome, Error> {
            let flow = self.core().follow_log(upid.clone(), options);
            self.run_with(flow, &mut |e| {
                if let $crate::flow::Event::LogLines(lines) = &e {
                    on_lines(lines);
                }
            })
            $(.$await)?
        }

        /// Ask the node to stop a running task.
        #[doc = $crate::__example!($krate, $mode, "# let upid: Upid = \"UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:\".parse()?;\n" "client.cancel_task(&upid)" AWAIT "?;")]
        pub $($async)? fn cancel_task(&self, upid: &$crate::Upid) -> Result<(), Error> {
            let _: $crate::__serde_json::Value = self.call(&upid.cancel_call()?)$(.$await)??;
            Ok(())
        }

        /// Find the checksum published next to `url` (`SHA512SUMS`, `url.sha256`, ...);
        /// `file_name` is the name to look for besides the URL's own. Unreachable candidates
        /// count as absent.
        #[doc = $crate::__example!($krate, $mode, "let sum = client.discover_checksum(\"https://example.org/isos/debian.iso\", None)" AWAIT "?;")]
        pub $($async)? fn discover_checksum(
            &self,
            url: &str,
            file_name: Option<&str>,
        ) -> Result<Option<$crate::checksum::Checksum>, Error> {
            $crate::capability::require(
                self.runtime(),
                $crate::capability::Capability::ChecksumDiscovery,
            )?;
            self.run(self.core().discover_checksum(url, file_name)?)$(.$await)?
        }

        /// Ask `node` to download `url` into `storage` (`download-url`), with a checksum
        /// given, discovered next to the URL, or none. Returns the UPID of the download task.
        #[doc = $crate::__example!($krate, $mode, "let upid = client.download_url(\"pve1\", \"local\", UploadContent::Iso,\n    \"https://example.org/isos/debian.iso\", \"debian.iso\", DownloadChecksum::Discover)" AWAIT "?;")]
        pub $($async)? fn download_url(
            &self,
            node: &str,
            storage: &str,
            content: $crate::upload::UploadContent,
            url: &str,
            file_name: &str,
            checksum: $crate::upload::DownloadChecksum,
        ) -> Result<$crate::Upid, Error> {
            if checksum.wants_discovery() {
                $crate::capability::require(
                    self.runtime(),
                    $crate::capability::Capability::ChecksumDiscovery,
                )?;
            }
            let flow = self
                .core()
                .download_url(node, storage, content, url, file_name, checksum)?;
            self.run(flow)$(.$await)?
        }

        /// Run a command in a guest through the QEMU guest agent. A single string is split
        /// the way a POSIX shell would (quotes, escapes); returns the agent's answer
        /// (`{"pid": n}`).
        #[doc = $crate::__example!($krate, $mode, "let pid = client.agent_exec(\"pve1\", 100, \"systemctl restart nginx\")" AWAIT "?;")]
        pub $($async)? fn agent_exec(
            &self,
            node: &str,
            vmid: u32,
            command: &str,
        ) -> Result<$crate::__serde_json::Value, Error> {
            self.run(self.core().agent_exec(node, vmid, command)?)$(.$await)?
        }

        /// Like `agent_exec` with the words given as a list (sent as given).
        #[doc = $crate::__example!($krate, $mode, "let pid = client.agent_exec_argv(\"pve1\", 100, &[\"ls\", \"/tmp/a b\"])" AWAIT "?;")]
        pub $($async)? fn agent_exec_argv(
            &self,
            node: &str,
            vmid: u32,
            argv: &[&str],
        ) -> Result<$crate::__serde_json::Value, Error> {
            self.run(self.core().agent_exec_argv(node, vmid, argv)?)$(.$await)?
        }
    };
}

/// The flow methods of an async client, written once for every async adapter
/// (proxmox-async, proxmox-wasm; `async_flow_methods!(Send)` where callbacks must be `Send`): tasks (`wait_task`, `wait_tasks`, `task_log`,
/// `follow_task_log`, `cancel_task`), files (`discover_checksum`, `download_url`) and the
/// guest agent (`agent_exec`, `agent_exec_argv`), and `watch_resources` (a
/// [`ResourceWatch`](crate::resources::ResourceWatch) over `get`). Each is one run of the adapter's driver
/// loop over a flow of its [`ClientCore`](crate::flow::ClientCore); what the runtime cannot do
/// is refused from the [capability table](crate::capability). The adapter provides
/// `fn core(&self) -> &ClientCore`, `fn runtime(&self) -> Runtime`,
/// `async fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error>` and
/// `async fn run_with<F: Flow>(&self, flow: F, on_event: &mut dyn FnMut(Event)) -> Result<F::Output, Error>`.
#[macro_export]
macro_rules! async_flow_methods {
    ($krate:literal $(, $send:ident)?) => {
        $crate::__flow_methods!($krate, asynchronous; async await; $($send)?);
    };
}

/// The convenience verbs of an async client, written once for every async adapter
/// (proxmox-async with `async_client_methods!(Send)`, proxmox-wasm without): `call_envelope`,
/// `call`, `call_with` over the adapter's `async fn call_raw(&self, call: &Call, opts:
/// &CallOptions)` (an answer with `status`, `reason` and `body`), and `get`, `get_with`,
/// `post`, `put`, `delete`, `create`, `set` and `request`, which build their call at once (the
/// parameters are not borrowed by the future) and hand it to the adapter's
/// `async fn call_owned<T: DeserializeOwned>(&self, call: Result<Call, Error>) -> Result<T, Error>`.
#[macro_export]
macro_rules! async_client_methods {
    ($krate:literal $(, $send:ident)?) => {
        /// Perform a call and return the whole envelope (`data` plus `total` and friends).
        #[doc = $crate::__example!($krate, asynchronous, "let env: proto::response::Envelope<serde_json::Value> =\n    client.call_envelope(&Call::get(\"cluster/tasks\")?, &CallOptions::default())" AWAIT "?;\nprintln!(\"{:?} tasks\", env.total);")]
        pub async fn call_envelope<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            call: &$crate::Call,
            opts: &$crate::flow::CallOptions,
        ) -> Result<$crate::response::Envelope<T>, Error> {
            let raw = self.call_raw(call, opts).await?;
            Ok(self
                .core()
                .envelope(call, raw.status, raw.reason.as_deref(), &raw.body, raw.attempts)?)
        }

        /// Perform a call and return `data` as `T`.
        #[doc = $crate::__example!($krate, asynchronous, "let version: serde_json::Value = client.call(&Call::get(\"version\")?)" AWAIT "?;")]
        pub async fn call<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            call: &$crate::Call,
        ) -> Result<T, Error> {
            self.call_with(call, &$crate::flow::CallOptions::default())
                .await
        }

        /// Perform a call with options (deadline, timeouts, body limit, attempts) and return
        /// `data` as `T`.
        #[doc = $crate::__example!($krate, asynchronous, "let opts = CallOptions::default().timeout(std::time::Duration::from_secs(5));\nlet version: serde_json::Value = client.call_with(&Call::get(\"version\")?, &opts)" AWAIT "?;")]
        pub async fn call_with<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            call: &$crate::Call,
            opts: &$crate::flow::CallOptions,
        ) -> Result<T, Error> {
            self.call_envelope(call, opts).await.map(|e| e.data)
        }

        /// `GET path`.
        #[doc = $crate::__example!($krate, asynchronous, "let nodes: Vec<serde_json::Value> = client.get(\"nodes\")" AWAIT "?;")]
        pub fn get<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            path: impl $crate::IntoApiPath,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            let call = $crate::Call::get(path).map_err(Error::from);
            self.call_owned(call)
        }

        /// `GET path` with query parameters from a `Serialize` struct or map.
        #[doc = $crate::__example!($krate, asynchronous, "let vms: Vec<models::ClusterResource> =\n    client.get_with(\"cluster/resources\", &[(\"type\", \"vm\")])" AWAIT "?;")]
        pub fn get_with<T: $crate::__serde::de::DeserializeOwned, P: $crate::__serde::Serialize + ?Sized>(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            let call = $crate::Call::get(path).and_then(|c| c.params_from(params));
            self.call_owned(call.map_err(Error::from))
        }

        /// `POST path` with form parameters (unset `Option`s dropped, booleans 1/0).
        #[doc = $crate::__example!($krate, asynchronous, "let upid: Upid = client.post((\"nodes\", \"pve1\", \"qemu\", 100, \"status\", \"start\"), &())" AWAIT "?;")]
        pub fn post<T: $crate::__serde::de::DeserializeOwned, P: $crate::__serde::Serialize + ?Sized>(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            let call = $crate::Call::post(path).and_then(|c| c.params_from(params));
            self.call_owned(call.map_err(Error::from))
        }

        /// `PUT path`.
        #[doc = $crate::__example!($krate, asynchronous, "let _: serde_json::Value = client\n    .put((\"nodes\", \"pve1\", \"qemu\", 100, \"config\"), &[(\"description\", \"web\")])" AWAIT "?;")]
        pub fn put<T: $crate::__serde::de::DeserializeOwned, P: $crate::__serde::Serialize + ?Sized>(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            let call = $crate::Call::put(path).and_then(|c| c.params_from(params));
            self.call_owned(call.map_err(Error::from))
        }

        /// `DELETE path` with query parameters.
        #[doc = $crate::__example!($krate, asynchronous, "let upid: Upid = client.delete((\"nodes\", \"pve1\", \"qemu\", 100), &[(\"purge\", 1)])" AWAIT "?;")]
        pub fn delete<T: $crate::__serde::de::DeserializeOwned, P: $crate::__serde::Serialize + ?Sized>(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            let call = $crate::Call::delete(path).and_then(|c| c.params_from(params));
            self.call_owned(call.map_err(Error::from))
        }

        /// Alias of `post` (pvesh's verb).
        #[doc = $crate::__example!($krate, asynchronous, "let upid: Upid = client\n    .create((\"nodes\", \"pve1\", \"qemu\"), &serde_json::json!({\"vmid\": 200, \"memory\": 512}))" AWAIT "?;")]
        pub fn create<T: $crate::__serde::de::DeserializeOwned, P: $crate::__serde::Serialize + ?Sized>(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            self.post(path, params)
        }

        /// Alias of `put` (pvesh's verb).
        #[doc = $crate::__example!($krate, asynchronous, "let _: serde_json::Value = client\n    .set((\"nodes\", \"pve1\", \"qemu\", 100, \"config\"), &[(\"onboot\", 1)])" AWAIT "?;")]
        pub fn set<T: $crate::__serde::de::DeserializeOwned, P: $crate::__serde::Serialize + ?Sized>(
            &self,
            path: impl $crate::IntoApiPath,
            params: &P,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            self.put(path, params)
        }

        /// A call with explicit parameters.
        #[doc = $crate::__example!($krate, asynchronous, "let params = Params::new().with(\"type\", \"vm\");\nlet all: serde_json::Value = client.request(Method::Get, \"cluster/resources\", params)" AWAIT "?;")]
        pub fn request<T: $crate::__serde::de::DeserializeOwned>(
            &self,
            method: $crate::Method,
            path: impl $crate::IntoApiPath,
            params: $crate::Params,
        ) -> impl ::std::future::Future<Output = Result<T, Error>> $(+ $send)? {
            let call = $crate::Call::new(method, path).map(|c| c.with_params(params));
            self.call_owned(call.map_err(Error::from))
        }
    };
}

/// The builder methods of the native adapters (proxmox-ureq, proxmox-async) beyond the core's
/// options: `second_factor_callback` and `clock` (each adapter reads its `ca_file` itself: the
/// core touches no file), over the builder's fields
/// `second_factor_callback: Option<SecondFactorCallback>` and `clock: Clock`.
#[macro_export]
macro_rules! native_builder_methods {
    () => {
        /// A suffix for the `User-Agent` header, after the client's own
        /// (`proxmox-ureq/0.1.0 backup-script/2`), so that an admin finds this program in
        /// pveproxy's access log. At most 100 characters: letters, digits, space and
        /// `-._/()+;:,=`; anything else is refused by `build()`.
        pub fn user_agent_suffix(mut self, suffix: &str) -> Self {
            self.options.set_user_agent_suffix(suffix);
            self
        }

        /// A callback asked for the second factor when the server wants one (it sees what is
        /// offered; returning `None` aborts the login). Needs a password login.
        pub fn second_factor_callback(
            mut self,
            f: impl Fn(&$crate::auth::TfaChallenge) -> Option<$crate::auth::SecondFactor>
            + Send
            + Sync
            + 'static,
        ) -> Self {
            self.second_factor_callback = Some(::std::sync::Arc::new(f));
            self
        }

        /// Where "now" comes from (default: the system clock). Tests pass a simulated clock;
        /// sleeping always uses the real timer.
        pub fn clock(mut self, clock: Clock) -> Self {
            self.clock = clock;
            self
        }
    };
}

/// The types of the native adapters' builders (proxmox-ureq, proxmox-async), defined once:
/// `Clock`, a source of "now" (time since the Unix epoch; tests pass a simulated clock), and
/// `SecondFactorCallback`, asked for the second factor when the server wants one and none was
/// given with `ClientBuilder::second_factor` (it sees what is offered; `None` aborts the login;
/// the core never calls it: the client answers the flow's second-factor step with it). Also
/// `Error` (the core's [`ClientError`](crate::ClientError)) and `CallOptions`.
#[macro_export]
macro_rules! native_types {
    () => {
        /// Errors of this client: the core's [`proxmox_proto::ClientError`], the same type (and
        /// accessors: `api()`, `class()`, `transport()`, `transport_kind()`, `task()`,
        /// `may_have_been_sent()`, `is_timeout()`, `attempts()`) on every adapter.
        pub use $crate::ClientError as Error;
        pub use $crate::flow::CallOptions;

        /// Write a SPICE connection file (`.vv`, for remote-viewer) from
        /// [`Client::spice`]'s answer, readable by its owner only (mode 0600 on Unix: it
        /// holds the SPICE password), replacing the file atomically. The password is never
        /// printed.
        ///
        /// ```no_run
        /// # fn example(vv: &proxmox_proto::console::spice::SpiceConfig) -> Result<(), Box<dyn std::error::Error>> {
        /// # use proxmox_proto::console::spice::SpiceConfig;
        /// # fn write_vv(_: &str, _: &SpiceConfig) -> std::io::Result<()> { Ok(()) }
        /// write_vv("vm100.vv", vv)?;
        /// // then: remote-viewer vm100.vv
        /// # Ok(()) }
        /// ```
        pub fn write_vv(
            path: impl AsRef<::std::path::Path>,
            config: &$crate::console::spice::SpiceConfig,
        ) -> ::std::io::Result<()> {
            use ::std::io::Write as _;
            let path = path.as_ref();
            let name = path.file_name().ok_or_else(|| {
                ::std::io::Error::other(format!("{} is not a file name", path.display()))
            })?;
            let mut tmp_name = ::std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".{}.tmp", ::std::process::id()));
            let tmp = path.with_file_name(tmp_name);
            let mut options = ::std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            ::std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let written = options.open(&tmp).and_then(|mut f| {
                f.write_all(config.to_vv().expose().as_bytes())?;
                f.sync_all()
            });
            match written.and_then(|()| ::std::fs::rename(&tmp, path)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = ::std::fs::remove_file(&tmp);
                    Err(::std::io::Error::new(
                        e.kind(),
                        format!("writing {}: {e}", path.display()),
                    ))
                }
            }
        }

        /// A source of "now" (time since the Unix epoch); tests pass a simulated clock.
        pub type Clock = ::std::sync::Arc<dyn Fn() -> ::std::time::Duration + Send + Sync>;

        /// Asked for the second factor when the server wants one and none was given with
        /// [`ClientBuilder::second_factor`] (it sees what is offered; `None` aborts the
        /// login). Set with [`ClientBuilder::second_factor_callback`]; the core never calls it:
        /// this client answers the flow's second-factor step with it.
        pub type SecondFactorCallback = ::std::sync::Arc<
            dyn Fn(&$crate::auth::TfaChallenge) -> Option<$crate::auth::SecondFactor>
                + Send
                + Sync
                + 'static,
        >;
    };
}

/// The setters of every adapter's console builder (a struct with a `settings:
/// proxmox_proto::console::ConsoleSettings` field): `vnc`, `size`, `keepalive`, with examples
/// for `$krate` (`blocking` or `asynchronous`).
#[macro_export]
macro_rules! console_builder_methods {
    ($krate:literal, $mode:ident) => {
        /// A VNC console (`vncshell` for a node, `vncproxy` for a guest) instead of a
        /// terminal: the connection carries raw RFB, authenticated with the console's
        /// `password()`.
        #[doc = $crate::__example!($krate, $mode, "let vnc = client.console(ConsoleTarget::Qemu { node: \"pve1\".into(), vmid: 100 }).vnc().build()" AWAIT "?;\nlet _rfb_password = vnc.password();")]
        pub fn vnc(mut self) -> Self {
            self.settings.kind = $crate::flow::ConsoleKind::Vnc;
            self
        }

        /// The terminal's size (columns, rows), sent right after the login is accepted.
        #[doc = $crate::__example!($krate, $mode, "let shell = client.console(ConsoleTarget::Node(\"pve1\".into())).size(120, 40).build()" AWAIT "?;")]
        pub fn size(mut self, cols: u16, rows: u16) -> Self {
            self.settings.size = Some((cols, rows));
            self
        }

        /// How often a terminal sends termproxy's keepalive (default 30 s, like the web
        /// client; `None`: never).
        #[doc = $crate::__example!($krate, $mode, "let every = Some(std::time::Duration::from_secs(10));\nlet shell = client.console(ConsoleTarget::Node(\"pve1\".into())).keepalive(every).build()" AWAIT "?;")]
        pub fn keepalive(mut self, every: Option<::std::time::Duration>) -> Self {
            self.settings.keepalive = Some(every);
            self
        }
    };
}

/// The accessors of every adapter's open console (a type `Console` with
/// `fn info(&self) -> &proxmox_proto::console::ConsoleInfo`): `ticket` and `password`.
#[macro_export]
macro_rules! console_info_methods {
    ($krate:literal) => {
        /// The console call's answer: user, port, task (the console ticket stays hidden in
        /// `Debug`).
        #[doc = concat!("\n\n```no_run\n# fn example(console: &", $krate, "::Console) {\nprintln!(\"console task {:?}\", console.ticket().upid);\n# }\n```")]
        pub fn ticket(&self) -> &$crate::console::ticket::ConsoleTicket {
            &self.info().ticket
        }

        /// The RFB password of a VNC console (`None` for a terminal): the answer's `password`
        /// when the server generated one, otherwise the console ticket, as PVE's noVNC client
        /// uses it. Valid for a short while; never print it.
        #[doc = concat!("\n\n```no_run\n# fn example(vnc: &", $krate, "::Console) {\nif let Some(p) = vnc.password() {\n    let _for_the_rfb_client = p.expose();\n}\n# }\n```")]
        pub fn password(&self) -> Option<&$crate::auth::Secret> {
            self.info().password()
        }
    };
}

/// What a user of an adapter touches, re-exported by every adapter so that depending on the
/// adapter alone is enough: `Upid`, `Params`, `Call`, `Method`, `ErrorClass`, `ApiError`,
/// `ConsoleTarget`,
/// `Service`, `Lit`, the task types (`WaitOptions`, `TaskOutcome`, `TaskError`, `TaskStatus`,
/// `LogLine`), `UploadContent`, the `models`, `loose` and `json` modules, and `serde_json`.
#[macro_export]
macro_rules! user_reexports {
    () => {
        pub use $crate::__serde_json as serde_json;
        pub use $crate::flow::ConsoleTarget;
        pub use $crate::resources::ResourceChange;
        pub use $crate::task::{LogLine, TaskError, TaskOutcome, TaskStatus, WaitOptions};
        pub use $crate::upload::UploadContent;
        pub use $crate::{ApiError, Call, ErrorClass, Lit, Method, Params, Service, Upid};
        pub use $crate::{json, loose, models};
    };
}

/// A doc example for a client method, for the adapter `$krate` (`blocking`: a plain function;
/// `asynchronous`: an `async fn`, where each `AWAIT` becomes `.await`). The pieces are joined;
/// `# ` lines are hidden, as in any doc example.
#[doc(hidden)]
#[macro_export]
macro_rules! __example {
    ($krate:literal, blocking, $($code:tt)*) => {
        $crate::__example!(@b $krate [] $($code)*)
    };
    ($krate:literal, asynchronous, $($code:tt)*) => {
        $crate::__example!(@a $krate [] $($code)*)
    };
    (@b $krate:literal [$($acc:literal)*] AWAIT $($rest:tt)*) => {
        $crate::__example!(@b $krate [$($acc)*] $($rest)*)
    };
    (@a $krate:literal [$($acc:literal)*] AWAIT $($rest:tt)*) => {
        $crate::__example!(@a $krate [$($acc)* ".await"] $($rest)*)
    };
    (@$m:ident $krate:literal [$($acc:literal)*] $lit:literal $($rest:tt)*) => {
        $crate::__example!(@$m $krate [$($acc)* $lit] $($rest)*)
    };
    (@b $krate:literal [$($acc:literal)*]) => {
        concat!(
            "\n\n```no_run\n# use ", $krate, "::*;\n",
            "# fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {\n",
            $($acc,)* "\n# Ok(()) }\n```"
        )
    };
    (@a $krate:literal [$($acc:literal)*]) => {
        concat!(
            "\n\n```no_run\n# use ", $krate, "::*;\n",
            "# async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {\n",
            $($acc,)* "\n# Ok(()) }\n```"
        )
    };
}
