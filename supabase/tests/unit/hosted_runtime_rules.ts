// What Supabase's hosted edge runtime refuses, or answers differently, that function code could
// touch — checked statically over supabase/functions (never local/, which is not deployed).
// Each rule names its source; docs/local-stack.md ("What the hosted runtime gives and refuses")
// lists the same with what it gives. ER = supabase/edge-runtime at b1edf453 (2026-04-30).

export interface Rule {
  /** What the code does, as the finding says it. */
  what: string;
  /** Matched against the code with comments and string contents blanked out… */
  pattern: RegExp;
  /** …or, for a module specifier, with only comments blanked. */
  specifier?: true;
  why: string;
}

const BOOTSTRAP = "ER ext/runtime/js/bootstrap.js (user worker overrides)";
const OVERRIDES = "ER ext/runtime/js/denoOverrides.js (the Deno namespace a worker gets)";
const PERMISSIONS =
  "ER crates/base/src/runtime/permissions.rs (UserWorker: no run, no ffi, sys=hostname)";
const LIMITS = "supabase.com/docs/guides/functions/limits";

export const REFUSED: Rule[] = [
  {
    what: "starts a process (Deno.Command / Deno.run)",
    pattern: /\bDeno\s*\.\s*(Command|run)\b/,
    why: `no run permission for user workers; Deno.run is not in the namespace — ${PERMISSIONS}`,
  },
  {
    what: "imports node:child_process",
    pattern: /["']node:child_process["']/,
    specifier: true,
    why: `no run permission — ${PERMISSIONS}`,
  },
  {
    what: "loads native code (Deno.dlopen, FFI)",
    pattern: /\bDeno\s*\.\s*(dlopen|UnsafePointer\w*|UnsafeCallback|UnsafeFnPointer)\b/,
    why: `not in the namespace, and no ffi permission — ${OVERRIDES}; ${PERMISSIONS}`,
  },
  {
    what: "uses Deno KV or Deno.cron",
    pattern: /\bDeno\s*\.\s*(openKv|cron|AtomicOperation|KvU64)\b/,
    why: `not in the namespace — ${OVERRIDES}`,
  },
  {
    what: "listens on a socket of its own (Deno.listen…)",
    pattern: /\bDeno\s*\.\s*(listen|listenTls|listenDatagram)\b/,
    why: `nothing routes to it: a function is reached only through Deno.serve — ${OVERRIDES}`,
  },
  {
    what: "exits or signals (Deno.exit / kill / signal listeners)",
    pattern: /\bDeno\s*\.\s*(exit|kill|addSignalListener|removeSignalListener)\b/,
    why: `replaced by functions that do nothing — ${BOOTSTRAP} ("mock")`,
  },
  {
    what: "reads Deno.args, Deno.execPath or Deno.version",
    pattern: /\bDeno\s*\.\s*(args|execPath|version)\b/,
    why: `args is [], execPath "/bin/edge-runtime", version.deno ` +
      `"supabase-edge-runtime-… (compatible with Deno v2.1.4)" — ${BOOTSTRAP}`,
  },
  {
    what: "uses a file system call the runtime blocks",
    pattern:
      /\bDeno\s*\.\s*(chdir|chmod|chown|copyFile|rename|symlink|link|truncate|ftruncate|utime|futime|readLink|umask)(Sync)?\b/,
    why: `"Deno.<name> is blocklisted" — ${BOOTSTRAP} (DENIED_DENO_FS_API_LIST)`,
  },
  {
    what: "uses a synchronous file system call",
    pattern:
      /\bDeno\s*\.\s*(readFile|readTextFile|writeFile|writeTextFile|mkdir|makeTempDir|makeTempFile|readDir|remove|stat|lstat|realPath|open|create)Sync\b/,
    why: `blocklisted once the worker has started (allowed only at module load) — ${BOOTSTRAP}`,
  },
  {
    what: "imports node:fs (files go through Deno.* under /tmp)",
    pattern: /["']node:fs(\/promises)?["']/,
    specifier: true,
    why: `only /tmp is writable; the function's own files are its bundle — ${BOOTSTRAP}; ` +
      "supabase.com/docs/guides/functions/ephemeral-storage",
  },
  {
    what: "starts a Worker",
    pattern: /\bnew\s+Worker\s*\(/,
    why: `"Web Worker API (or Node vm API) are not available" — ${LIMITS}`,
  },
  {
    what: "imports node:vm, node:worker_threads or node:cluster",
    pattern: /["']node:(vm|worker_threads|cluster)["']/,
    specifier: true,
    why: `"Web Worker API (or Node vm API) are not available" — ${LIMITS}`,
  },
  {
    what: "uses SharedArrayBuffer",
    pattern: /\bSharedArrayBuffer\b/,
    why: `SharedArrayBuffer is ArrayBuffer there (no shared memory) — ${BOOTSTRAP}`,
  },
];

/** Deno calls that write a path: allowed only under /tmp (the worker's ephemeral directory). */
const WRITES =
  /\bDeno\s*\.\s*(writeFile|writeTextFile|mkdir|makeTempDir|makeTempFile|remove|create|open)\s*\(\s*/g;

export interface Finding {
  file: string;
  line: number;
  what: string;
  why: string;
}

/**
 * `code`: comments and the contents of strings blanked (kept the same length, newlines kept,
 * so positions still map to lines); `texts`: comments blanked, strings kept.
 */
export function blank(source: string): { code: string; texts: string } {
  let code = "";
  let texts = "";
  const out = (c: string, inString: boolean) => {
    const keep = c === "\n" ? "\n" : " ";
    code += inString ? keep : c;
    texts += c;
  };
  const hide = (c: string) => {
    const keep = c === "\n" ? "\n" : " ";
    code += keep;
    texts += keep;
  };
  // A stack of what we are inside: "`" for a template's text, "{" for code in `${…}` or braces.
  const stack: string[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    const inTemplate = stack[stack.length - 1] === "`";
    if (inTemplate) {
      if (c === "\\") {
        out(c, true);
        if (next !== undefined) out(next, true);
        i += 2;
      } else if (c === "`") {
        stack.pop();
        out(c, false);
        i++;
      } else if (c === "$" && next === "{") {
        stack.push("${");
        out(c, false);
        out(next, false);
        i += 2;
      } else {
        out(c, true);
        i++;
      }
      continue;
    }
    if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") hide(source[i++]);
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? source.length : end + 2;
      while (i < stop) hide(source[i++]);
    } else if (c === '"' || c === "'") {
      out(c, false);
      i++;
      while (i < source.length && source[i] !== c && source[i] !== "\n") {
        if (source[i] === "\\") out(source[i++], true);
        if (i < source.length) out(source[i++], true);
      }
      if (i < source.length) out(source[i++], false);
    } else if (c === "`") {
      stack.push("`");
      out(c, false);
      i++;
    } else {
      if (c === "{") stack.push("{");
      if (c === "}" && stack.length) stack.pop();
      out(c, false);
      i++;
    }
  }
  return { code, texts };
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text[i] === "\n") line++;
  return line;
}

/** Every use of a refused API in one file's source. */
export function refusedUses(file: string, source: string): Finding[] {
  const { code, texts } = blank(source);
  const findings: Finding[] = [];
  for (const rule of REFUSED) {
    const global = new RegExp(rule.pattern.source, "g");
    for (const match of (rule.specifier ? texts : code).matchAll(global)) {
      findings.push({ file, line: lineOf(code, match.index), what: rule.what, why: rule.why });
    }
  }
  for (const match of code.matchAll(WRITES)) {
    const argument = texts.slice(match.index + match[0].length);
    if (/^["'`]\/tmp(\/|["'`])/.test(argument)) continue;
    findings.push({
      file,
      line: lineOf(code, match.index),
      what: `Deno.${match[1]} on a path not written as "/tmp/…"`,
      why: `only /tmp is writable (a private temporary directory) — ` +
        'ER crates/base/src/runtime/mod.rs (PrefixFs "/tmp" over TmpFs); ' +
        "supabase.com/docs/guides/functions/ephemeral-storage",
    });
  }
  return findings.sort((a, b) => a.line - b.line);
}
