// Source code files: the language comes from the file extension and the text is kept as it is (code
// documents carry meta.kind = "code", which prose cleaning and quality rules skip).

export const CODE_EXTENSIONS: Record<string, string> = {
  ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".cs": "csharp", ".go": "go",
  ".java": "java", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
  ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".py": "python", ".rb": "ruby", ".rs": "rust",
  ".php": "php", ".swift": "swift", ".kt": "kotlin", ".scala": "scala", ".sh": "shell", ".bash": "shell",
  ".sql": "sql", ".r": "r", ".jl": "julia", ".lua": "lua", ".pl": "perl", ".hs": "haskell", ".ml": "ocaml",
  ".ex": "elixir", ".erl": "erlang", ".clj": "clojure", ".dart": "dart", ".zig": "zig", ".m": "objective-c",
  ".css": "css", ".scss": "scss", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".proto": "protobuf",
};

/** The programming language of a file name, or undefined when it is not a known code extension. */
export function codeLanguageOf(name: string): string | undefined {
  const m = /(\.[A-Za-z0-9]+)$/.exec(name.replace(/\.gz$/, ""));
  return m ? CODE_EXTENSIONS[m[1].toLowerCase()] : undefined;
}
