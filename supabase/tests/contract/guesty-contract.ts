// Checks a request we send to Guestly, or an answer the sandbox gives, against Guesty's published
// Open API definition (guesty-open-api-subset.json, vendored unchanged) plus the overlay of what
// Guesty changed since (guesty-overlay.ts). The definition is OpenAPI 3.0; ajv reads JSON Schema,
// so each schema gets the light translation below (README.md lists each rule and why).
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import definitionFile from "./guesty-open-api-subset.json" with { type: "json" };
import { OVERLAY } from "./guesty-overlay.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const METHODS = ["get", "put", "post", "delete", "patch"];

/** The definition as we validate against it: a copy, with every overlay entry applied. */
export function contractDefinition(): Json {
  const definition = structuredClone(definitionFile);
  for (const entry of OVERLAY) entry.apply(definition);
  return definition;
}

/**
 * OpenAPI 3.0 → JSON Schema, and Guesty's self-contradictions read as its README says. `closed`
 * (requests): an object that declares its properties accepts no others — Guesty ignores an
 * undeclared field, so sending one is sending nothing.
 */
export function translate(schema: Json, closed: boolean): Json {
  if (Array.isArray(schema)) return schema.map((s) => translate(s, closed));
  if (schema === null || typeof schema !== "object") return schema;
  let out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "example" || key === "description" || key === "deprecated") continue;
    out[key] = key === "properties"
      ? Object.fromEntries(
        Object.entries(value as Json).map((
          [name, s],
        ) => [name, translateProperty(name, s, closed)]),
      )
      : translate(value, closed);
  }
  // A lone allOf member is the schema itself (Guesty wraps nested objects so).
  if (Array.isArray(out.allOf) && out.allOf.length === 1) {
    const [only] = out.allOf;
    delete out.allOf;
    out = { ...only, ...out };
  }
  // "some string enums sit on whole arrays instead of their items": the items keep theirs.
  if (out.type === "array" && Array.isArray(out.enum)) delete out.enum;
  // `required: ["method, id"]` is one string: read `method` (`id` only for cards).
  if (Array.isArray(out.required)) {
    out.required = out.required.map((name: string) => name.split(",")[0].trim());
  }
  // "some `format: date` fields carry date-time examples": either is Guesty's intent.
  if (out.format === "date" && /T/.test(String(schema.example ?? ""))) {
    out.format = "date-or-date-time";
  }
  // "some ids are typed `object` with string examples": a string is what Guesty means.
  if (out.type === "object" && typeof schema.example === "string") out.type = ["object", "string"];
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === "string") out.type = [out.type, "null"];
    else if (Array.isArray(out.type)) out.type = [...out.type, "null"];
  }
  if (
    closed && out.properties && out.additionalProperties === undefined &&
    (out.type === "object" || (Array.isArray(out.type) && out.type.includes("object")))
  ) {
    out.additionalProperties = false;
  }
  if (closed && out.properties && out.type === undefined) {
    out.type = "object";
    out.additionalProperties ??= false;
  }
  return out;
}

/**
 * The README's "ids typed `object` with string examples" where the answer's copy lost the
 * example: a Mongo id (`_id`) and a custom field's `value` (string-typed on the request) accept
 * a string there too.
 */
const STRING_OBJECTS = new Set(["_id", "value"]);
function translateProperty(name: string, schema: Json, closed: boolean): Json {
  const out = translate(schema, closed);
  if (STRING_OBJECTS.has(name) && out?.type === "object") out.type = ["object", "string"];
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
ajv.addFormat(
  "date-or-date-time",
  /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/,
);

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  literalLength: number;
  spec: Json;
}

const definition = contractDefinition();
const operations: Operation[] = Object.entries(definition.paths as Json).flatMap((
  [template, item],
) =>
  Object.entries(item as Json)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, spec]) => ({
      method: method.toUpperCase(),
      template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
      literalLength: template.replace(/\{[^}]+\}/g, "").length,
      spec,
    }))
  // A literal path (`/reservations-v3/search`) wins over a template that also matches it.
).sort((a, b) => b.literalLength - a.literalLength);

/** The operation a request calls, by method and path template (the server's `/v1` stripped). */
export function findOperation(method: string, url: string): Operation | null {
  const path = new URL(url, "https://x.invalid").pathname.replace(/^.*?\/v1(?=\/)/, "");
  return operations.find((op) => op.method === method.toUpperCase() && op.pattern.test(path)) ??
    null;
}

const compiled = new Map<string, ValidateFunction>();
function validator(key: string, schema: Json): ValidateFunction {
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  return validate;
}

function errorsOf(where: string, validate: ValidateFunction, value: unknown): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) =>
    `${where}${e.instancePath || ""} ${e.message}${
      e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ""
    }`
  );
}

/** Query values as the definition types them: numbers and booleans parsed, arrays gathered. */
function queryValues(url: URL, parameters: Json[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const name = key.replace(/\[\]$/, "");
    const declared = parameters.find((p) => p.name === name)?.schema ?? {};
    const all = url.searchParams.getAll(key);
    const parse = (v: string, type: unknown) =>
      type === "number" || type === "integer"
        ? (v.trim() === "" ? v : Number(v))
        : type === "boolean"
        ? (v === "true" ? true : v === "false" ? false : v)
        : v;
    values[name] = declared.type === "array"
      ? all.flatMap((v) => v.split(",")).map((v) => parse(v, declared.items?.type))
      : all.length === 1
      ? parse(all[0], declared.type)
      : all;
  }
  return values;
}

/** Every way the request breaks the definition (empty: it is valid). */
export function checkRequest(request: { method: string; url: string; body?: unknown }): string[] {
  const op = findOperation(request.method, request.url);
  if (!op) return [`${request.method} ${new URL(request.url).pathname}: no such operation`];
  const key = `${op.method} ${op.template}`;
  const parameters: Json[] = (op.spec.parameters ?? []).filter((p: Json) => p.in === "query");
  const querySchema = {
    type: "object",
    properties: Object.fromEntries(
      parameters.map((p) => [p.name, translate(p.schema ?? {}, true)]),
    ),
    required: parameters.filter((p) => p.required).map((p) => p.name),
    patternProperties: op.spec["x-query-patterns"] ?? {},
    additionalProperties: false,
  };
  const errors = errorsOf(
    `${key} query`,
    validator(`${key} query`, querySchema),
    queryValues(new URL(request.url), parameters),
  );
  const bodySchema = op.spec.requestBody?.content?.["application/json"]?.schema;
  if (bodySchema) {
    if (request.body === undefined) errors.push(`${key}: the definition asks for a body`);
    else {
      errors.push(
        ...errorsOf(
          `${key} body`,
          validator(`${key} body`, translate(bodySchema, true)),
          request.body,
        ),
      );
    }
  } else if (request.body !== undefined && request.body !== null) {
    errors.push(`${key}: the definition declares no body`);
  }
  return errors;
}

/** Every way an answer breaks the definition: an undeclared status, or a body off its schema. */
export function checkResponse(
  request: { method: string; url: string },
  status: number,
  body: unknown,
): string[] {
  const op = findOperation(request.method, request.url);
  if (!op) return [`${request.method} ${new URL(request.url).pathname}: no such operation`];
  const key = `${op.method} ${op.template}`;
  const declared = op.spec.responses?.[String(status)];
  if (!declared) {
    return [`${key}: answer ${status} is not declared (${Object.keys(op.spec.responses ?? {})})`];
  }
  const schema = declared.content?.["application/json"]?.schema;
  if (!schema) return [];
  return errorsOf(
    `${key} ${status}`,
    validator(`${key} ${status} answer`, translate(schema, false)),
    body,
  );
}

/** The request's method, URL and JSON body, as the definition sees them. */
export async function describeRequest(request: Request): Promise<
  { method: string; url: string; body?: unknown }
> {
  const text = await request.clone().text();
  return {
    method: request.method,
    url: request.url,
    ...(text === "" ? {} : { body: JSON.parse(text) }),
  };
}
