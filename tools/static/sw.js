// Detour's service worker: the page boots with the network off, and a new build
// is taken on the next visit.
//
// - Runtime files live under a versioned folder (vendor/<tag>/): they never change
//   at a given URL; the HTTP cache answers them, this worker's copy when it cannot.
// - Everything else (the page, its config, its Python) is asked of the network
//   first, so a new build is used as soon as it is published; the cache answers
//   when the network is off or too slow.
// - The page tells this worker, once the app is ready, which files it loaded; they
//   are stored then, mostly from the browser's HTTP cache, so offline use costs
//   next to nothing over the wire.
// `make dist` fills in the three values below (tools/offline.py).
const BUILD = "__DETOUR_BUILD__";
const RUNTIME = "__DETOUR_RUNTIME__";
const SHELL = __DETOUR_SHELL__;
const CACHE = "detour";
const NETWORK_WAIT_MS = 4000;
const scope = new URL(self.registration.scope);
const runtimePrefix = new URL(`vendor/${RUNTIME}/`, scope).href;
const vendorPrefix = new URL("vendor/", scope).href;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await Promise.all(SHELL.map((path) => store(cache, new URL(path, scope).href)));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      // Drop runtime files of other versions; keep the current runtime and the app.
      const cache = await caches.open(CACHE);
      for (const request of await cache.keys()) {
        if (request.url.startsWith(vendorPrefix) && !request.url.startsWith(runtimePrefix)) {
          await cache.delete(request);
        }
      }
      // The page's own request starts while this worker boots, not after.
      await self.registration.navigationPreload?.enable();
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  const reply = event.ports[0];
  if (data.type === "store" && Array.isArray(data.urls)) {
    event.waitUntil(
      (async () => {
        const cache = await caches.open(CACHE);
        const urls = data.urls.filter((url) => sameOrigin(url) && !url.includes("/sw.js"));
        const results = await Promise.all(urls.map((url) => storeIfMissing(cache, url)));
        reply?.postMessage({ type: "stored", build: BUILD, stored: results.filter(Boolean).length });
      })(),
    );
  } else if (data.type === "build") {
    reply?.postMessage({ type: "build", build: BUILD, runtime: RUNTIME });
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || !sameOrigin(request.url)) return;
  if (request.url.startsWith(runtimePrefix)) {
    event.respondWith(runtimeFile(request));
  } else {
    event.respondWith(networkFirst(event, request));
  }
});

function sameOrigin(url) {
  return new URL(url, scope).origin === scope.origin;
}

async function store(cache, url) {
  try {
    const response = await fetch(url, { cache: "no-cache" });
    if (response.ok) await cache.put(url, response);
    return response.ok;
  } catch {
    return false;
  }
}

async function storeIfMissing(cache, url) {
  if (await cache.match(url, { ignoreVary: true })) return false;
  try {
    // The default cache mode: what the page just loaded comes from the HTTP cache.
    const response = await fetch(url);
    if (response.ok) await cache.put(url, response);
    return response.ok;
  } catch {
    return false;
  }
}

// The browser's HTTP cache first: the server marks these files immutable, so a
// fresh copy is answered from disk without the network (and with the compiled
// WebAssembly Chromium keeps beside it); the worker's own copy when that fails.
async function runtimeFile(request) {
  try {
    const response = await fetch(request);
    if (response.ok) return response;
  } catch {
    // Offline and not in the HTTP cache: the worker's copy below.
  }
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreVary: true, ignoreSearch: true });
  return hit || fetch(request);
}

async function networkFirst(event, request) {
  const cache = await caches.open(CACHE);
  const key = request.mode === "navigate" ? new URL("./", scope).href : request.url;
  const preloaded = request.mode === "navigate" ? event.preloadResponse : undefined;
  const fromNetwork = Promise.resolve(preloaded).then((early) => early || fetch(request)).then((response) => {
    if (response.ok) event.waitUntil(cache.put(key, response.clone()));
    return response;
  });
  const late = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS, null));
  try {
    const response = await Promise.race([fromNetwork, late]);
    if (response) return response;
  } catch {
    // Offline: the cache answers below.
  }
  const hit = await cache.match(key, { ignoreVary: true, ignoreSearch: request.mode === "navigate" });
  return hit || fromNetwork;
}
