//! The embeddable evaluator: fetch once, verify locally, cache successes,
//! single-flight concurrent requests, bounded by a deadline, hot-reloadable.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rsign_core::Digest;
use rsign_core::keys::PublicKey;
use rsign_core::keyset::Timestamp;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::decide::{NoMatch, chain, decide_matched, no_match_decision};
use crate::decision::{Code, Decision, Outcome, Verdict};
use crate::facts::Facts;
use crate::glob::normalize_reference;
use crate::policy::{PolicySet, Rule};
use crate::source::{AttachmentSource, ResolvedImage, SourceError};

/// Default per-evaluation deadline: below Kubernetes' 10 s webhook timeout.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(8);
/// Default lifetime of a cached successful verification.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
/// Default number of cached verifications.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;
/// Default cap on signature layers read for one image (cosign checks up to 1,000).
pub const DEFAULT_MAX_SIGNATURE_LAYERS: usize = 1000;
/// Default cap on attestation envelopes read for one image.
pub const DEFAULT_MAX_ATTESTATIONS: usize = 1000;

/// How long past the deadline a decision still running on the blocking pool
/// is awaited before the evaluation denies without it. The Rego engine's
/// timer is set to the deadline, so this only catches a builtin that
/// overruns its cooperative timer.
const DECISION_GRACE: Duration = Duration::from_millis(500);

/// How an [`Evaluator`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EvaluatorOptions {
    /// Time budget of one evaluation (resolve, fetch, verify, decide).
    pub deadline: Duration,
    /// How long a successful verification is reused (zero: no cache).
    pub cache_ttl: Duration,
    /// How many verifications are cached at most (zero: no cache).
    pub cache_max_entries: usize,
    /// What to do with images no policy matches.
    pub no_match: NoMatch,
    /// Most signature layers accepted for one image; more fails the fetch.
    pub max_signature_layers: usize,
    /// Most attestation envelopes accepted for one image; more fails the fetch.
    pub max_attestations: usize,
    fail_open: bool,
    clock: Clock,
}

/// The wall clock keyset windows are checked against.
#[derive(Clone, Default)]
struct Clock(Option<Arc<dyn Fn() -> Timestamp + Send + Sync>>);

impl Clock {
    fn now(&self) -> Timestamp {
        self.0.as_ref().map_or_else(Timestamp::now, |f| f())
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "custom" } else { "system" })
    }
}

impl Default for EvaluatorOptions {
    fn default() -> Self {
        Self {
            deadline: DEFAULT_DEADLINE,
            cache_ttl: DEFAULT_CACHE_TTL,
            cache_max_entries: DEFAULT_CACHE_ENTRIES,
            no_match: NoMatch::Deny,
            max_signature_layers: DEFAULT_MAX_SIGNATURE_LAYERS,
            max_attestations: DEFAULT_MAX_ATTESTATIONS,
            fail_open: false,
            clock: Clock::default(),
        }
    }
}

impl EvaluatorOptions {
    /// **Dangerous:** admit (with a warning) images whose attachments cannot
    /// be fetched in time, instead of denying them. An attacker who can slow
    /// or break the registry then bypasses every policy.
    #[must_use]
    pub fn dangerous_fail_open(mut self) -> Self {
        self.fail_open = true;
        self
    }

    /// Whether [`EvaluatorOptions::dangerous_fail_open`] is set.
    pub fn is_fail_open(&self) -> bool {
        self.fail_open
    }

    /// Checks keyset keys' trust windows (`acceptUntil`) against `clock`
    /// instead of the system clock (for tests and replays). The clock is
    /// read once per evaluation, when the decision is made.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> Timestamp + Send + Sync>) -> Self {
        self.clock = Clock(Some(clock));
        self
    }

    /// The instant keyset windows are checked against now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Evaluates images against a policy set; cheap to clone, `Send + Sync`.
///
/// ```
/// # use std::sync::Arc;
/// # use rsign_policy::{Evaluator, EvaluatorOptions, PolicySet, Format, LoadOptions, Verdict};
/// # use rsign_policy::source::{AttachmentSource, ResolvedImage, SignatureLayer, SourceError};
/// # struct Empty;
/// # #[async_trait::async_trait]
/// # impl AttachmentSource for Empty {
/// #     async fn resolve(&self, image: &str) -> Result<ResolvedImage, SourceError> { unreachable!() }
/// #     async fn signature_layers(&self, _: &ResolvedImage) -> Result<Vec<SignatureLayer>, SourceError> { Ok(vec![]) }
/// #     async fn attestation_envelopes(&self, _: &ResolvedImage) -> Result<Vec<Vec<u8>>, SourceError> { Ok(vec![]) }
/// # }
/// let policies = PolicySet::parse(r#"
/// apiVersion: policy.sigstore.dev/v1beta1
/// kind: ClusterImagePolicy
/// metadata: {name: block-all}
/// spec:
///   images: [{glob: "**"}]
///   authorities: [{static: {action: fail}}]
/// "#, Format::Yaml, "inline.yaml".as_ref(), None, &LoadOptions::default())?;
/// let evaluator = Evaluator::new(policies, Arc::new(Empty), EvaluatorOptions::default());
/// let decision = tokio::runtime::Runtime::new()?.block_on(evaluator.evaluate("nginx"));
/// assert_eq!(decision.verdict, Verdict::Deny);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Evaluator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluator")
            .field("policies", &self.policies().policies().len())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

struct Inner {
    policies: RwLock<Arc<PolicySet>>,
    source: Arc<dyn AttachmentSource>,
    options: EvaluatorOptions,
    cache: Mutex<Cache>,
    flights: Mutex<HashMap<FlightKey, Arc<OnceCell<FlightResult>>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FlightKey {
    image: String,
    set: Digest,
    matched: Vec<usize>,
    fresh: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    digest: Digest,
    set: Digest,
    matched: Vec<usize>,
}

#[derive(Clone)]
struct Fetched {
    facts: Arc<Facts>,
    key: CacheKey,
    from_cache: bool,
}

#[derive(Debug, Clone)]
struct Failure {
    code: Code,
    message: String,
    digest: Option<Digest>,
}

type FlightResult = Result<Fetched, Failure>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Evaluator {
    /// An evaluator over `policies`, fetching through `source`.
    pub fn new(
        policies: PolicySet,
        source: Arc<dyn AttachmentSource>,
        options: EvaluatorOptions,
    ) -> Self {
        let cache = Cache {
            ttl: options.cache_ttl,
            max: options.cache_max_entries,
            entries: HashMap::new(),
        };
        Self {
            inner: Arc::new(Inner {
                policies: RwLock::new(Arc::new(policies)),
                source,
                options,
                cache: Mutex::new(cache),
                flights: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The policy set in force now.
    pub fn policies(&self) -> Arc<PolicySet> {
        let guard = self
            .inner
            .policies
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&guard)
    }

    /// Replaces the policy set atomically. Evaluations already running finish
    /// with the set they started with; the verification cache is cleared.
    pub fn reload(&self, policies: PolicySet) {
        {
            let mut guard = self
                .inner
                .policies
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            *guard = Arc::new(policies);
        }
        lock(&self.inner.cache).entries.clear();
    }

    /// The options in force.
    pub fn options(&self) -> &EvaluatorOptions {
        &self.inner.options
    }

    /// Decides whether `image` may run. Never fails: fetch errors and the
    /// deadline become a deny (or, with the dangerous fail-open option, a warn).
    pub async fn evaluate(&self, image: &str) -> Decision {
        let set = self.policies();
        let options = &self.inner.options;
        let normalized = match normalize_reference(image) {
            Ok(n) => n,
            Err(e) => {
                return Decision::without_policies(
                    image,
                    None,
                    Verdict::Deny,
                    Code::InvalidReference,
                    e.to_string(),
                );
            }
        };
        let matched = set.matching(image);
        if matched.is_empty() {
            return no_match_decision(image, None, options.no_match);
        }
        let needs_fetch = matched
            .iter()
            .filter_map(|&i| set.policies.get(i))
            .any(|p| p.needs_signatures() || p.needs_attestations());
        let deadline = Instant::now() + options.deadline;
        if !needs_fetch {
            return self.decide(&set, &matched, image, None, deadline).await;
        }
        let mut fresh = false;
        loop {
            let outcome = tokio::time::timeout_at(
                deadline,
                self.facts(&set, &matched, image, &normalized, fresh),
            )
            .await;
            let fetched = match outcome {
                Err(_elapsed) => {
                    let failure = Failure {
                        code: Code::DeadlineExceeded,
                        message: format!("evaluation did not finish within {:?}", options.deadline),
                        digest: None,
                    };
                    return self
                        .failure_decision(&set, &matched, image, failure, deadline)
                        .await;
                }
                Ok(Err(failure)) => {
                    return self
                        .failure_decision(&set, &matched, image, failure, deadline)
                        .await;
                }
                Ok(Ok(fetched)) => fetched,
            };
            // Trust windows are checked now, at each decision, also for
            // cached facts: a success that rested on a retired key is not
            // served after the key's `acceptUntil`.
            let decision = self
                .decide(
                    &set,
                    &matched,
                    image,
                    Some(Arc::clone(&fetched.facts)),
                    deadline,
                )
                .await;
            if fetched.from_cache && !decision.verdict.admits() && !fresh {
                // Cached facts may predate a signature pushed since (or no
                // longer admit, a key's window having ended): drop them and
                // look again.
                lock(&self.inner.cache).entries.remove(&fetched.key);
                fresh = true;
                continue;
            }
            if !fetched.from_cache && decision.verdict.admits() {
                lock(&self.inner.cache).insert(
                    fetched.key.clone(),
                    Arc::clone(&fetched.facts),
                    Instant::now(),
                );
            }
            return decision;
        }
    }

    /// Facts for `image` under `set`, shared with concurrent evaluations of
    /// the same image and policies (single flight).
    async fn facts(
        &self,
        set: &Arc<PolicySet>,
        matched: &[usize],
        image: &str,
        normalized: &str,
        fresh: bool,
    ) -> FlightResult {
        let key = FlightKey {
            image: normalized.to_owned(),
            set: set.hash().clone(),
            matched: matched.to_vec(),
            fresh,
        };
        let cell = Arc::clone(lock(&self.inner.flights).entry(key.clone()).or_default());
        let _guard = FlightGuard {
            flights: &self.inner.flights,
            key,
            cell: Arc::clone(&cell),
        };
        cell.get_or_init(|| self.fetch(set, matched, image, fresh))
            .await
            .clone()
    }

    async fn fetch(
        &self,
        set: &Arc<PolicySet>,
        matched: &[usize],
        image: &str,
        fresh: bool,
    ) -> FlightResult {
        let source = &self.inner.source;
        let options = &self.inner.options;
        let resolved = source.resolve(image).await.map_err(|e| failure(&e, None))?;
        let key = CacheKey {
            digest: resolved.digest.clone(),
            set: set.hash().clone(),
            matched: matched.to_vec(),
        };
        if !fresh && let Some(facts) = lock(&self.inner.cache).get(&key, Instant::now()) {
            return Ok(Fetched {
                facts,
                key,
                from_cache: true,
            });
        }
        let policies: Vec<_> = matched
            .iter()
            .filter_map(|&i| set.policies.get(i))
            .collect();
        let needs_signatures = policies.iter().any(|p| p.needs_signatures());
        let needs_attestations = policies.iter().any(|p| p.needs_attestations());
        let (layers, envelopes) = tokio::join!(
            optional(needs_signatures, source.signature_layers(&resolved)),
            optional(needs_attestations, source.attestation_envelopes(&resolved)),
        );
        let digest = Some(resolved.digest.clone());
        let layers = layers.map_err(|e| failure(&e, digest.clone()))?;
        let envelopes = envelopes.map_err(|e| failure(&e, digest.clone()))?;
        too_many(
            &resolved,
            "signature layers",
            layers.len(),
            options.max_signature_layers,
        )?;
        too_many(
            &resolved,
            "attestations",
            envelopes.len(),
            options.max_attestations,
        )?;
        // Every key, trusted now or not: trust is decided per decision (the
        // facts may be cached past a window's end), and signatures by keys
        // not trusted are needed to explain refusals.
        let mut keys: Vec<PublicKey> = Vec::new();
        for authority in policies.iter().flat_map(|p| &p.authorities) {
            if let Rule::Keys { keys: ks, .. } = &authority.rule {
                for k in ks {
                    if !keys.iter().any(|have| have.key_id() == k.id()) {
                        keys.push(k.key.clone());
                    }
                }
            }
        }
        // Up to layers × keys + envelopes × keys signature checks: CPU-bound,
        // so on the blocking pool, not a runtime worker. The caller bounds
        // this future by the deadline; when that fires first the handle is
        // dropped and the task runs on, detached, until it finishes by itself
        // (the work is bounded by the layer and attestation caps), its
        // result unused.
        let digest = resolved.digest.clone();
        let facts =
            tokio::task::spawn_blocking(move || Facts::verify(&digest, &keys, &layers, &envelopes))
                .await
                .map_err(|e| Failure {
                    code: Code::PolicyError,
                    message: format!("verifying the attachments failed: {e}"),
                    digest: Some(resolved.digest.clone()),
                })?;
        Ok(Fetched {
            facts: Arc::new(facts),
            key,
            from_cache: false,
        })
    }

    /// Decides on the blocking pool (Rego policies are CPU-bound), as of the
    /// evaluator's clock now, with Rego bounded by `deadline`.
    ///
    /// Awaited until `deadline` plus [`DECISION_GRACE`]; past that (or if the
    /// task fails) the image is denied without policy reports. An abandoned
    /// (or cancelled) decision task is detached, not stopped: it ends on its
    /// own once the Rego timer, set to `deadline`, fires.
    async fn decide(
        &self,
        set: &Arc<PolicySet>,
        matched: &[usize],
        image: &str,
        facts: Option<Arc<Facts>>,
        deadline: Instant,
    ) -> Decision {
        let options = &self.inner.options;
        let digest = facts.as_ref().map(|f| f.digest().clone());
        let task = {
            let (set, matched, image) = (Arc::clone(set), matched.to_vec(), image.to_owned());
            let (no_match, now, until) = (options.no_match, options.now(), deadline.into_std());
            tokio::task::spawn_blocking(move || {
                decide_matched(
                    &set,
                    &matched,
                    &image,
                    facts.as_deref(),
                    no_match,
                    now,
                    Some(until),
                )
            })
        };
        let (code, reason) = match tokio::time::timeout_at(deadline + DECISION_GRACE, task).await {
            Ok(Ok(decision)) => return decision,
            Ok(Err(e)) => (
                Code::PolicyError,
                format!("fail closed: the decision could not be made: {e}"),
            ),
            Err(_elapsed) => (
                Code::DeadlineExceeded,
                format!(
                    "fail closed: the decision did not finish within {:?}",
                    options.deadline
                ),
            ),
        };
        Decision::without_policies(image, digest, Verdict::Deny, code, reason)
    }

    /// The decision when facts could not be had: the policies are decided
    /// without facts (static authorities still count); key authorities fail.
    async fn failure_decision(
        &self,
        set: &Arc<PolicySet>,
        matched: &[usize],
        image: &str,
        failure: Failure,
        deadline: Instant,
    ) -> Decision {
        let options = &self.inner.options;
        let mut decision = self.decide(set, matched, image, None, deadline).await;
        if decision.policies.is_empty() {
            // The decision itself failed: that denial stands (no fail-open).
            return decision;
        }
        decision.digest = failure.digest.clone();
        for policy in &mut decision.policies {
            for authority in &mut policy.authorities {
                if authority.code == Code::FetchFailed {
                    authority.code = failure.code;
                    authority.reason = failure.message.clone();
                }
            }
        }
        if decision.verdict.admits() {
            return decision;
        }
        let only_fetch_failures = decision
            .policies
            .iter()
            .filter(|p| p.result == Outcome::Fail)
            .all(|p| p.authorities.iter().any(|a| a.code == failure.code));
        decision.code = failure.code;
        decision.reason = format!("fail closed: {}", failure.message);
        // Fail-open covers attachments that could not be had, never a
        // verification that failed to run.
        let fetch_problem = matches!(failure.code, Code::FetchFailed | Code::DeadlineExceeded);
        if options.fail_open && fetch_problem && only_fetch_failures {
            decision.verdict = Verdict::Warn;
            decision.reason = format!("admitted because fail-open is set: {}", failure.message);
            decision.warnings.push(format!(
                "dangerous fail-open: `{image}` admitted without verification: {}",
                failure.message
            ));
        }
        decision
    }
}

fn failure(e: &SourceError, digest: Option<Digest>) -> Failure {
    Failure {
        code: Code::FetchFailed,
        message: chain(e),
        digest,
    }
}

fn too_many(image: &ResolvedImage, what: &str, count: usize, max: usize) -> Result<(), Failure> {
    if count > max {
        Err(Failure {
            code: Code::FetchFailed,
            message: format!(
                "{} has {count} {what}, more than the limit of {max}",
                image.name
            ),
            digest: Some(image.digest.clone()),
        })
    } else {
        Ok(())
    }
}

async fn optional<T, F>(needed: bool, fetch: F) -> Result<Vec<T>, SourceError>
where
    F: Future<Output = Result<Vec<T>, SourceError>>,
{
    if needed { fetch.await } else { Ok(Vec::new()) }
}

/// Removes a finished (or abandoned) flight from the table, if it is still
/// the one registered under its key.
struct FlightGuard<'a> {
    flights: &'a Mutex<HashMap<FlightKey, Arc<OnceCell<FlightResult>>>>,
    key: FlightKey,
    cell: Arc<OnceCell<FlightResult>>,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut flights = lock(self.flights);
        if flights
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell))
        {
            flights.remove(&self.key);
        }
    }
}

/// Successful verifications, by (digest, policy-set hash, matched policies).
struct Cache {
    ttl: Duration,
    max: usize,
    entries: HashMap<CacheKey, (Instant, Arc<Facts>)>,
}

impl Cache {
    fn get(&mut self, key: &CacheKey, now: Instant) -> Option<Arc<Facts>> {
        let (at, facts) = self.entries.get(key)?;
        if now.saturating_duration_since(*at) < self.ttl {
            Some(Arc::clone(facts))
        } else {
            self.entries.remove(key);
            None
        }
    }

    fn insert(&mut self, key: CacheKey, facts: Arc<Facts>, now: Instant) {
        if self.max == 0 || self.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= self.max && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            while self.entries.len() >= self.max {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => {
                        self.entries.remove(&k);
                    }
                    None => break,
                }
            }
        }
        self.entries.insert(key, (now, facts));
    }
}
