// A generated catalog of 500 tools for bench/tool-search.ts: 25 services, 78 kinds of object, the
// usual verbs (create, get, list, update, delete, search, archive), each with a title, a
// description in the style real servers write, and an input schema. Deterministic: the same
// catalog every run. The queries that measure search over it are written apart from it
// (bench/lib/tool-search-queries.ts), in a user's words, not the descriptions'.
import type { JsonObject } from "../../src/jsonrpc.js";

interface Service {
  readonly name: string;
  readonly title: string;
  readonly blurb: string;
  readonly objects: readonly string[];
}

const SERVICES: readonly Service[] = [
  {
    name: "github",
    title: "GitHub",
    blurb: "Works on GitHub repositories the token can reach.",
    objects: ["issue", "pull_request", "repository", "branch", "release", "workflow_run", "comment"],
  },
  {
    name: "jira",
    title: "Jira",
    blurb: "Uses the configured Jira Cloud site.",
    objects: ["ticket", "sprint", "epic", "board"],
  },
  {
    name: "slack",
    title: "Slack",
    blurb: "Acts in the connected Slack workspace as the bot user.",
    objects: ["message", "channel", "reaction", "user_status"],
  },
  {
    name: "calendar",
    title: "Google Calendar",
    blurb: "Reads and writes the user's Google Calendar.",
    objects: ["event", "invitation", "availability"],
  },
  {
    name: "gmail",
    title: "Gmail",
    blurb: "Operates on the signed-in Gmail mailbox.",
    objects: ["email", "draft", "label", "attachment"],
  },
  {
    name: "drive",
    title: "Google Drive",
    blurb: "Works with files in Google Drive.",
    objects: ["file", "folder", "permission", "shared_link"],
  },
  {
    name: "postgres",
    title: "PostgreSQL",
    blurb: "Runs against the configured PostgreSQL database.",
    objects: ["query", "table", "index", "backup"],
  },
  {
    name: "aws",
    title: "AWS",
    blurb: "Calls AWS APIs in the default region.",
    objects: ["instance", "bucket", "lambda_function", "security_group"],
  },
  {
    name: "k8s",
    title: "Kubernetes",
    blurb: "Talks to the current kubectl context's cluster.",
    objects: ["pod", "deployment", "service", "config_map", "log"],
  },
  {
    name: "stripe",
    title: "Stripe",
    blurb: "Uses the Stripe account's secret key (test mode unless told).",
    objects: ["invoice", "customer", "refund", "subscription", "payment"],
  },
  {
    name: "hubspot",
    title: "HubSpot CRM",
    blurb: "Reads and writes HubSpot CRM records.",
    objects: ["contact", "deal", "company", "note"],
  },
  {
    name: "notion",
    title: "Notion",
    blurb: "Works in the Notion workspace shared with the integration.",
    objects: ["page", "database_entry", "block"],
  },
  {
    name: "zendesk",
    title: "Zendesk",
    blurb: "Customer support in Zendesk.",
    objects: ["support_ticket", "macro"],
  },
  {
    name: "pagerduty",
    title: "PagerDuty",
    blurb: "Incident response in PagerDuty.",
    objects: ["incident", "on_call_schedule"],
  },
  {
    name: "figma",
    title: "Figma",
    blurb: "Design files in Figma.",
    objects: ["design_file", "design_comment"],
  },
  { name: "twilio", title: "Twilio", blurb: "Telephony through Twilio.", objects: ["sms", "phone_call"] },
  {
    name: "salesforce",
    title: "Salesforce",
    blurb: "Sales records in Salesforce.",
    objects: ["opportunity", "lead", "account"],
  },
  {
    name: "datadog",
    title: "Datadog",
    blurb: "Observability in Datadog.",
    objects: ["monitor", "dashboard", "metric"],
  },
  {
    name: "confluence",
    title: "Confluence",
    blurb: "Team documentation in Confluence.",
    objects: ["article", "space"],
  },
  {
    name: "sentry",
    title: "Sentry",
    blurb: "Application errors reported to Sentry.",
    objects: ["error_event", "alert_rule"],
  },
  { name: "weather", title: "Weather", blurb: "Weather data from a public provider.", objects: ["forecast"] },
  { name: "maps", title: "Maps", blurb: "Places and directions.", objects: ["route", "place"] },
  {
    name: "translate",
    title: "Translation",
    blurb: "Machine translation between languages.",
    objects: ["text"],
  },
  {
    name: "shopify",
    title: "Shopify",
    blurb: "The Shopify store's admin API.",
    objects: ["product", "order", "inventory"],
  },
  { name: "docker", title: "Docker", blurb: "The local Docker engine.", objects: ["image", "container"] },
];

const VERBS = ["create", "get", "list", "update", "delete", "search", "archive"] as const;
type Verb = (typeof VERBS)[number];

const words = (s: string) => s.replace(/_/g, " ");
const plural = (s: string) => (s.endsWith("s") ? s : s.endsWith("y") ? `${s.slice(0, -1)}ies` : `${s}s`);
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function description(verb: Verb, object: string, s: Service): string {
  const o = words(object);
  const text: Record<Verb, string> = {
    create: `Creates a new ${o} in ${s.title} and returns its id.`,
    get: `Fetches one ${o} from ${s.title} by id, with all of its fields.`,
    list: `Lists ${plural(o)} in ${s.title}, newest first, one page at a time.`,
    update: `Changes fields of an existing ${o} in ${s.title}; fields left out are kept.`,
    delete: `Permanently deletes a ${o} from ${s.title}. This cannot be undone.`,
    search: `Full-text search over ${plural(o)} in ${s.title}; returns the best matches.`,
    archive: `Archives a ${o} in ${s.title} so it no longer shows by default.`,
  };
  return `${text[verb]} ${s.blurb}`;
}

function schema(verb: Verb, object: string): JsonObject {
  const id = `${object}_id`;
  const props: Record<string, JsonObject> = {};
  const required: string[] = [];
  if (verb === "create") {
    props.name = { type: "string" };
    props.fields = { type: "object", description: `The ${words(object)}'s fields` };
    required.push("name");
  } else if (verb === "list") {
    props.limit = { type: "integer" };
    props.cursor = { type: "string" };
  } else if (verb === "search") {
    props.query = { type: "string" };
    props.limit = { type: "integer" };
    required.push("query");
  } else {
    props[id] = { type: "string" };
    required.push(id);
    if (verb === "update") props.fields = { type: "object" };
  }
  return { type: "object", properties: props, required };
}

/** 500 tools: every verb for each object, but `archive` for the last 46 objects. */
export function generateCatalog(): JsonObject[] {
  const tools: JsonObject[] = [];
  const objects = SERVICES.flatMap((s) => s.objects.map((o) => ({ s, o })));
  objects.forEach(({ s, o }, i) => {
    for (const verb of VERBS) {
      if (verb === "archive" && i >= objects.length - 46) continue;
      tools.push({
        name: `${s.name}_${verb}_${o}`,
        title: `${cap(verb)} ${words(o)} (${s.title})`,
        description: description(verb, o, s),
        inputSchema: schema(verb, o),
      });
    }
  });
  return tools;
}
