// What Guesty changed after the 2024-07-28 definition (guesty-open-api-subset.json, never edited):
// one entry per change, each with the changelog line it comes from (the changes as listed in
// the shared guesty-openapi/README.md, "Newer than this definition"). Applied to a copy of the
// definition by guesty-contract.ts.

// deno-lint-ignore no-explicit-any
type Json = any;

export interface OverlayEntry {
  /** Guesty's changelog date and line (or guide) this entry stands for. */
  source: string;
  apply(definition: Json): void;
}

const V2_EVENTS = ["reservation.created.v2", "reservation.updated.v2"];

function requestSchema(definition: Json, path: string, method: string): Json {
  return definition.paths[path][method].requestBody.content["application/json"].schema;
}

export const OVERLAY: OverlayEntry[] = [
  {
    source: "2026-03-12: `reservation.created.v2` and `reservation.updated.v2` join the `events` " +
      "enum of `GET/POST/PUT /webhooks` and `/webhooks/{id}`",
    apply(definition) {
      for (const [path, method] of [["/webhooks", "post"], ["/webhooks/{id}", "put"]]) {
        const events = requestSchema(definition, path, method).properties.events;
        for (const enumOwner of [events, events.items]) {
          if (Array.isArray(enumOwner.enum)) enumOwner.enum.push(...V2_EVENTS);
        }
      }
    },
  },
  {
    source: "2026-05-12: `GET /reservations-v3/search` (filtering, sorting, pagination). " +
      "The changelog names the features, not the parameters: `filter[<field>]`, `sort`, " +
      "`limit` (at most 100), `skip` are our reading (docs/guestly-api.md)",
    apply(definition) {
      definition.paths["/reservations-v3/search"] = {
        get: {
          parameters: [
            { name: "sort", in: "query", schema: { type: "string" } },
            { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100 } },
            { name: "skip", in: "query", schema: { type: "integer", minimum: 0 } },
          ],
          "x-query-patterns": { "^filter\\[[A-Za-z0-9_.]+\\]$": { type: "string" } },
          responses: {
            "200": {
              content: {
                "application/json": {
                  schema: {
                    type: "object",
                    properties: {
                      results: { type: "array", items: { type: "object" } },
                      count: { type: "number" },
                    },
                    required: ["results"],
                  },
                },
              },
            },
          },
        },
      };
    },
  },
  {
    source: "2026-05-12: `ignoreCalendar`, `ignoreTerms`, `ignoreBlocks` on the dates, guests " +
      "and relocate PUTs",
    apply(definition) {
      for (const change of ["dates", "guests", "relocate"]) {
        const schema = requestSchema(
          definition,
          `/reservations-v3/{reservationId}/${change}`,
          "put",
        );
        for (const flag of ["ignoreCalendar", "ignoreTerms", "ignoreBlocks"]) {
          schema.properties[flag] = { type: "boolean", default: false };
        }
      }
    },
  },
  {
    source: "2026-05-12: `reservedUntil` in the status PUT's request and answer; `HOST` allowed " +
      "as a cancellation actor on the status PUT",
    apply(definition) {
      const schema = requestSchema(definition, "/reservations-v3/{reservationId}/status", "put");
      const create = requestSchema(definition, "/reservations-v3", "post");
      schema.properties.reservedUntil = structuredClone(create.properties.reservedUntil);
      schema.properties.canceledBy.enum.push("HOST");
    },
  },
];
