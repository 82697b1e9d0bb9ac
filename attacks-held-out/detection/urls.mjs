// URL items: the arguments object of a tool on a server with a URL guard (allowed_domains: ["*"]).
// "deny": an internal or metadata target under a name the guard may not know, nested or not;
// "allow": public URLs. A note starting "needs DNS" marks a name that must be resolved to be
// judged (this machine may have no resolver for it).
export function urls() {
  const items = [];
  const bad = (cls, payload, note) => items.push({ class: cls, payload, expect: "deny", note });
  const ok = (cls, payload, note) => items.push({ class: cls, payload, expect: "allow", note });
  const MD = "169.254.169.254";

  bad(
    "metadata-plain",
    { target: `http://${MD}/latest/meta-data/iam/security-credentials/` },
    "AWS metadata under target",
  );
  bad("metadata-decimal", { webhook: "http://2852039166/latest/meta-data/" }, "decimal IPv4 under webhook");
  bad(
    "metadata-octal",
    { redirect_to: "http://0251.0376.0251.0376/latest/user-data" },
    "octal under redirect_to",
  );
  bad("metadata-hex", { host: "http://0xA9FEA9FE/" }, "hex under host");
  bad(
    "metadata-mixed",
    { callback: "http://0xa9.254.0251.0xfe/latest/" },
    "mixed hex/octal dotted under callback",
  );
  bad("metadata-short", { image: "http://169.254.43518/latest/meta-data/" }, "three-part form under image");
  bad("metadata-short", { src: "http://169.16689662/" }, "two-part form under src");
  bad(
    "metadata-ipv6-mapped",
    { link: "http://[::ffff:169.254.169.254]/latest/meta-data/" },
    "IPv4-mapped IPv6 under link",
  );
  bad(
    "metadata-ipv6-mapped",
    { next: "http://[::ffff:a9fe:a9fe]/latest/meta-data/" },
    "IPv4-mapped IPv6 in hex under next",
  );
  bad("metadata-ipv6", { target: "http://[fd00:ec2::254]/latest/meta-data/" }, "AWS IMDS IPv6 address");
  bad("metadata-ipv6", { target: "http://[::169.254.169.254]/" }, "IPv4-compatible IPv6");
  bad("metadata-ipv6", { target: "http://[64:ff9b::a9fe:a9fe]/" }, "NAT64 of the metadata address");
  bad(
    "metadata-name",
    { feed: "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token" },
    "GCP metadata name under feed",
  );
  bad("metadata-name", { resource: "http://metadata.google.internal./computeMetadata/v1/" }, "trailing dot");
  bad("metadata-name", { location: "http://metadata/computeMetadata/v1/" }, "single label metadata");
  bad(
    "metadata-azure",
    {
      destination: `http://${MD}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`,
    },
    "Azure managed identity token",
  );
  bad("metadata-alibaba", { origin: "http://100.100.100.200/latest/meta-data/" }, "Alibaba Cloud metadata");
  bad("metadata-ecs", { upstream: "http://169.254.170.2/v2/credentials/" }, "ECS task credentials");
  bad("metadata-oracle", { base: "http://192.0.0.192/opc/v1/instance/" }, "Oracle legacy metadata");
  bad("metadata-trailing-dot", { ref: "http://169.254.169.254./latest/" }, "IPv4 with a trailing dot");
  bad("metadata-case", { target: "HTTP://169.254.169.254/latest/" }, "upper-case scheme");
  bad(
    "metadata-space",
    { target: " http://169.254.169.254/latest/" },
    "leading space (URL parsers strip it)",
  );
  bad(
    "metadata-fullwidth",
    { target: "http://１６９．２５４．１６９．２５４/latest/" },
    "full-width digits and dots (WHATWG folds them)",
  );
  bad("metadata-ideographic-dot", { target: "http://169。254。169。254/" }, "ideographic full stops");
  bad("metadata-percent", { target: "http://%31%36%39.254.169.254/" }, "percent-encoded host digits");
  bad(
    "metadata-dns",
    { target: "http://169.254.169.254.nip.io/latest/meta-data/" },
    "needs DNS: nip.io name resolving to the metadata address",
  );
  bad("metadata-dns", { target: "http://169-254-169-254.sslip.io/" }, "needs DNS: sslip.io dashed form");
  bad("metadata-dns", { target: "http://a9fea9fe.nip.io/" }, "needs DNS: nip.io hex form");
  bad("userinfo", { target: "http://example.com@169.254.169.254/latest/" }, "userinfo before the real host");
  bad("userinfo", { target: "http://169.254.169.254#@example.com/" }, "fragment after the real host");
  bad("userinfo", { target: "http://user:pass@10.0.0.1/admin" }, "credentials to a private host");
  bad("backslash", { target: "http://example.com\\@169.254.169.254/" }, "backslash confusion");
  bad(
    "redirect",
    { target: "https://httpbin.org/redirect-to?url=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F" },
    "public redirector to the metadata address (only the target reveals it)",
  );
  bad(
    "redirect",
    { next: "https://www.google.com/url?q=http://169.254.169.254/latest/meta-data/" },
    "open redirect to metadata",
  );
  bad("localhost", { webhook: "http://localhost:8080/admin/shutdown" }, "localhost");
  bad("localhost", { callback: "http://127.1/" }, "127.1 short form");
  bad("localhost", { endpoint: "http://0.0.0.0:6379/" }, "0.0.0.0 (reaches localhost)");
  bad("localhost", { host: "http://[::1]:2375/containers/json" }, "Docker API on IPv6 loopback");
  bad("localhost", { target: "http://2130706433/" }, "decimal 127.0.0.1");
  bad("localhost", { target: "http://0/" }, "0 (localhost on Linux)");
  bad("localhost", { target: "http://app.localhost:3000/" }, "*.localhost");
  bad("localhost", { target: "http://127.0.0.1.nip.io/" }, "needs DNS: nip.io to loopback");
  bad("private", { target: "http://10.0.0.5/" }, "10/8");
  bad("private", { proxy: "http://192.168.0.1/cgi-bin/config" }, "router under proxy");
  bad("private", { target: "http://172.16.5.4:8500/v1/kv/?recurse" }, "Consul KV on 172.16/12");
  bad("private", { target: "http://[fe80::1%25eth0]/" }, "IPv6 link-local with a zone");
  bad("private", { target: "http://100.64.0.1/" }, "CGNAT");
  bad("internal-name", { target: "http://kubernetes.default.svc/api/v1/secrets" }, "cluster-internal name");
  bad("internal-name", { target: "http://intranet/" }, "single label");
  bad("internal-name", { target: "http://jenkins.corp/script" }, ".corp");
  bad("scheme", { target: "gopher://127.0.0.1:6379/_FLUSHALL" }, "gopher to redis");
  bad("scheme", { target: "file:///etc/passwd" }, "file URL under an unknown name");
  bad("scheme", { target: "dict://127.0.0.1:11211/stat" }, "dict scheme");
  bad(
    "nested",
    { request: { options: { callback: `http://${MD}/latest/meta-data/` } } },
    "nested two objects deep",
  );
  bad(
    "nested",
    { images: ["https://example.com/a.png", `http://${MD}/latest/user-data`] },
    "second item of an array",
  );
  bad("nested", { config: { targets: [{ addr: "http://10.1.2.3:9200/_cat/indices" }] } }, "array of objects");
  bad(
    "nested",
    { hooks: { on_success: { url_template: "http://0xA9FEA9FE/latest/" } } },
    "deep, hex, name that contains url",
  );
  bad(
    "nested",
    { payload: JSON.stringify({ url: `http://${MD}/` }) },
    "a JSON string holding a URL (must be decoded to be seen)",
  );

  // ---------------- benign ----------------
  ok("public", { target: "https://example.com/" }, "needs DNS: example.com");
  ok(
    "public",
    { webhook: "https://hooks.example.com/services/build-finished" },
    "needs DNS: a public webhook",
  );
  ok(
    "public",
    { redirect_to: "https://en.wikipedia.org/wiki/Server-side_request_forgery" },
    "needs DNS: Wikipedia",
  );
  ok("public", { host: "https://api.github.com/repos/nodejs/node" }, "needs DNS: GitHub API");
  ok("public", { endpoint: "https://registry.npmjs.org/express" }, "needs DNS: npm registry");
  ok("public", { callback: "https://www.iana.org/domains/reserved" }, "needs DNS: IANA");
  ok(
    "public",
    { image: "https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png" },
    "needs DNS: an image",
  );
  ok(
    "public",
    { src: "https://raw.githubusercontent.com/nodejs/node/main/README.md" },
    "needs DNS: raw GitHub",
  );
  ok("public", { link: "https://docs.python.org/3/library/urllib.parse.html" }, "needs DNS: Python docs");
  ok("public", { next: "https://news.ycombinator.com/news?p=2" }, "needs DNS: HN");
  ok("public-ip", { target: "https://1.1.1.1/dns-query?name=example.com" }, "public IP literal");
  ok("public-ip", { target: "http://8.8.8.8/" }, "public IP literal");
  ok("public-ip", { target: "https://[2606:4700:4700::1111]/" }, "public IPv6 literal");
  ok(
    "nested-public",
    { request: { options: { callback: "https://status.example.org/ping" } } },
    "needs DNS: nested public URL",
  );
  ok(
    "nested-public",
    { images: ["https://example.com/a.png", "https://example.org/b.jpg"] },
    "needs DNS: array of public URLs",
  );
  ok("not-url", { host: "api.example.com" }, "a bare host name, not a URL");
  ok(
    "not-url",
    { description: "The address 169.254.169.254 serves instance metadata; never call it from user input." },
    "text mentioning the metadata address",
  );
  ok(
    "not-url",
    { note: "see http docs", version: "1.2.3", ip_hint: "203.0.113.0/24 is TEST-NET-3" },
    "strings that are not absolute URLs",
  );
  ok("not-url", { path: "/latest/meta-data/", method: "GET" }, "a path alone");
  ok(
    "not-url",
    { query: "curl http://169.254.169.254 explained" },
    "a search query mentioning the address inside text",
  );
  ok(
    "public",
    { url: "https://example.com:8443/api/v1/items?sort=asc#top" },
    "needs DNS: a known argument name, port and fragment",
  );
  ok(
    "public",
    { image: "https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css" },
    "needs DNS: a CDN asset",
  );
  ok("public", { href: "https://xn--bcher-kva.example/katalog" }, "needs DNS: an IDN (punycode) host");
  ok(
    "public-ip",
    { mirrors: ["https://9.9.9.9/", "https://8.8.4.4/resolve?name=example.org"] },
    "public IP literals in an array",
  );
  ok("public-ip", { target: "http://93.184.215.14/" }, "public IP literal");
  ok(
    "data-uri",
    {
      src: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    },
    "a data URI image",
  );
  ok("not-url", { next: "/dashboard?tab=billing" }, "a relative path");
  ok("not-url", { endpoint: "https" }, "a scheme name alone");
  ok("public-ip", { homepage: "https://140.82.112.3/" }, "public IP literal under an unknown name");
  ok("public-ip", { target: "http://151.101.1.69:80/simple/" }, "public IP literal with a port");
  ok(
    "not-http",
    { image: "node:20-alpine" },
    "a container image reference (parses as a URL with scheme node:)",
  );
  ok("not-http", { tag: "v1:latest" }, "a tag that parses as scheme v1:");
  ok("not-http", { filter: "status:open label:bug" }, "a search filter that parses as scheme status:");
  ok("not-http", { uri: "urn:isbn:0451450523" }, "a URN");
  ok("not-http", { track: "spotify:track:6rqhFgbbKwnb9MLmUQDhG6" }, "an app URI");
  ok("not-http", { folder: "C:\\Users\\dev\\project" }, "a Windows path (parses as scheme c:)");
  ok(
    "not-url",
    { message: "Deploy finished, see https://example.com/deploys/42 for the log." },
    "a URL inside a sentence",
  );
  return items;
}
