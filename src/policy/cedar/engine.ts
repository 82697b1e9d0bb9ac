// The Cedar engine (@cedar-policy/cedar-wasm), loaded on first use only: about 4 MB of WebAssembly
// compiled in some 50 ms, which a gateway without `policy.cedar` and every other command never pay.
/** The engine's functions (its named exports: Node reads them off the CommonJS module). */
export type Cedar = Omit<typeof import("@cedar-policy/cedar-wasm/nodejs"), "default">;
export type {
  AuthorizationAnswer,
  DetailedError,
  EntityJson,
  PolicyJson,
  Schema,
  SchemaJson,
  ValidationAnswer,
} from "@cedar-policy/cedar-wasm/nodejs";

let loading: Promise<Cedar> | undefined;

/** The engine, compiled once per process. The Node build reads its .wasm file synchronously, once. */
export function loadCedar(): Promise<Cedar> {
  loading ??= import("@cedar-policy/cedar-wasm/nodejs").then((m): Cedar => m);
  return loading;
}
