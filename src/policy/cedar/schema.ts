import type { SchemaJson } from "./engine.js";

/** The actions a policy can name, each with the entity type of its resource. */
export const ACTIONS = {
  "tools/call": "Tool",
  "prompts/get": "Prompt",
  "resources/read": "Resource",
} as const;
export type CedarAction = keyof typeof ACTIONS;

const STRING = { type: "String" } as const;
const LONG = { type: "Long" } as const;
const BOOL = { type: "Boolean" } as const;
const STRINGS = { type: "Set", element: STRING } as const;
const optional = <T extends object>(t: T) => ({ ...t, required: false });

/**
 * The model policies are validated against (docs/authorization.md, "Cedar"). `context.arguments`
 * and `principal.claims` are declared empty: their attributes depend on each tool's input schema
 * and on the identity provider, unknown when policies load, so the validator's "attribute not
 * found" on a path into either is not counted (files.ts); a rule that reads a missing or mistyped
 * one errs at evaluation, which denies. `args`: one tool's arguments typed from its input schema
 * (tool-schema.ts), to validate the policies written for that tool.
 */
export function baseSchema(
  args: Readonly<Record<string, unknown>> = { type: "Record", attributes: {} },
): SchemaJson<string> {
  const context = {
    type: "Record",
    attributes: {
      arguments: args,
      protocol: STRING,
      time: {
        type: "Record",
        attributes: { unix: LONG, hour: LONG, minute: LONG, weekday: LONG },
      },
    },
  } as const;
  const resource = (extra: Record<string, unknown>) => ({
    shape: { type: "Record", attributes: { server: STRING, ...extra } },
  });
  const principalTypes = ["User", "Anonymous"];
  const actions = Object.fromEntries(
    Object.entries(ACTIONS).map(([action, type]) => [
      action,
      { appliesTo: { principalTypes, resourceTypes: [type], context } },
    ]),
  );
  return {
    "": {
      entityTypes: {
        User: {
          shape: {
            type: "Record",
            attributes: {
              scopes: STRINGS,
              groups: STRINGS,
              client: STRING,
              method: STRING,
              claims: { type: "Record", attributes: {} },
            },
          },
        },
        Anonymous: { shape: { type: "Record", attributes: { scopes: STRINGS } } },
        Tool: resource({
          name: STRING,
          annotations: {
            type: "Record",
            attributes: {
              readOnlyHint: optional(BOOL),
              destructiveHint: optional(BOOL),
              idempotentHint: optional(BOOL),
              openWorldHint: optional(BOOL),
            },
          },
        }),
        Prompt: resource({ name: STRING }),
        Resource: resource({ uri: STRING }),
      },
      actions,
    },
  } as unknown as SchemaJson<string>;
}
