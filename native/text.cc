// llmforge text kernels: the inner loops of the data pipeline, for UTF-16 text as JavaScript holds it. Each
// function is the twin of a TypeScript function in src/data/ that stays the definition (and the path taken when
// this addon is missing or LLMFORGE_DATA_NATIVE=0): word scan + numbering (textView.ts scanWordsTs), Gopher
// repetition figures (gopherRepetition.ts gopherRepetitionFigures) and quality token pass (gopherQuality.ts
// GopherQualityRule.tokenStatsTs), language trigram totals (language.ts scoreLanguages, counted), the clean step's
// screen (clean.ts cleanScreenPlain), case-insensitive needle
// search (textView.ts LowerCaseNeedles) and MinHash signatures (dedup/minhash.ts minhashSignatureTs). Outputs are
// identical to the TypeScript ones (test/data/nativeText.test.ts, test/data/gopherNative.test.ts,
// test/data/minhash.test.ts). A separate addon from the tensor backend (no OpenMP; SSE4.1 is in the x86-64-v2
// baseline, and only the MinHash inner loop has AVX2/AVX-512 versions, picked at load time by the CPU and
// LLMFORGE_SIMD), loaded by src/data/nativeText.ts: src/data does not depend on src/tensor.
// Nothing here keeps state between calls except per-thread scratch, so worker threads may call it at once.
#include <napi.h>
#include <cstdint>
#include <algorithm>
#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

using u16 = char16_t;

// Ranges [from[k], to[k]) of a text (paragraphs, lines).
struct Ranges {
  std::vector<int32_t> from, to;
  void clear() {
    from.clear();
    to.clear();
  }
  void add(size_t a, size_t b) {
    from.push_back((int32_t)a);
    to.push_back((int32_t)b);
  }
  size_t size() const { return from.size(); }
};

// Per-thread scratch, grown as needed (reached through one thread-local pointer per call).
struct Scratch {
  std::vector<u16> text;
  std::vector<int32_t> a, b, c, d, e, nonAscii;
  std::vector<uint32_t> slots, slotHash;
  Ranges paras, lines;
  // language trigram counts: all zero between calls (each call resets the entries it counted)
  std::vector<int32_t> langCount;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

struct ArgError {
  std::string msg;
};

// Copies a JS string (at most `max` units of it) into per-thread UTF-16 scratch; returns the units copied.
size_t readText(Scratch& sc, const Napi::Env& env, const Napi::Value& v, const char* fn, size_t max = SIZE_MAX) {
  if (!v.IsString()) throw ArgError{std::string(fn) + ": text must be a string"};
  size_t len = 0;
  napi_get_value_string_utf16(env, v, nullptr, 0, &len);
  if (len > max) len = max;
  if (sc.text.size() < len + 1) sc.text.resize(len + 1 + (len >> 3));
  size_t got = 0;
  napi_get_value_string_utf16(env, v, sc.text.data(), len + 1, &got);
  return got;
}

template <typename T> constexpr napi_typedarray_type kindOf();
template <> constexpr napi_typedarray_type kindOf<uint8_t>() { return napi_uint8_array; }
template <> constexpr napi_typedarray_type kindOf<uint16_t>() { return napi_uint16_array; }
template <> constexpr napi_typedarray_type kindOf<int32_t>() { return napi_int32_array; }
template <> constexpr napi_typedarray_type kindOf<uint32_t>() { return napi_uint32_array; }
template <> constexpr napi_typedarray_type kindOf<double>() { return napi_float64_array; }
template <typename T> constexpr const char* kindName();
template <> constexpr const char* kindName<uint8_t>() { return "a Uint8Array"; }
template <> constexpr const char* kindName<uint16_t>() { return "a Uint16Array"; }
template <> constexpr const char* kindName<int32_t>() { return "an Int32Array"; }
template <> constexpr const char* kindName<uint32_t>() { return "a Uint32Array"; }
template <> constexpr const char* kindName<double>() { return "a Float64Array"; }

// A typed array argument of element type T with at least `minLen` elements, or an ArgError naming it.
template <typename T>
Napi::TypedArrayOf<T> typed(const Napi::Value& v, const char* fn, const char* arg, size_t minLen = 0) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kindOf<T>())
    throw ArgError{std::string(fn) + ": " + arg + " must be " + kindName<T>()};
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (a.ElementLength() < minLen)
    throw ArgError{std::string(fn) + ": " + arg + " is too short (" + std::to_string(a.ElementLength()) + " < " + std::to_string(minLen) + ")"};
  return a;
}

template <typename F>
Napi::Value wrap(const Napi::CallbackInfo& info, F f) {
  try {
    return f();
  } catch (const ArgError& e) {
    Napi::TypeError::New(info.Env(), e.msg).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  } catch (const std::exception& e) {
    // e.g. std::bad_alloc while growing scratch: a JavaScript error, not a crash
    Napi::Error::New(info.Env(), std::string("llmforge_text: ") + e.what()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

inline uint32_t fnvStep(uint32_t h, uint32_t c) { return (h ^ c) * 0x01000193u; }
constexpr uint32_t FNV0 = 0x811c9dc5u;

inline uint32_t mixSlot(uint32_t h) {
  uint32_t x = (h ^ (h >> 16)) * 0x2c1b3c6du;
  return x ^ (x >> 15);
}

// Grows a scratch vector to hold at least `need` elements (keeping its contents); returns its data.
template <typename T>
T* ensure(std::vector<T>& v, size_t need) {
  if (v.size() < need) v.resize(need + (need >> 1));
  return v.data();
}

// scanWords(text, cls: Uint8Array(65536)) -> Int32Array | undefined
// `cls` classifies UTF-16 units: 1 = whitespace (JavaScript's \s), 4 = punctuation or symbol (\p{P} or \p{S}),
// 8 = high surrogate, 0 = anything else. Returns the words as TextView.wordTable holds them: [count, vocabSize],
// start, end, id (each `count` long), vocabStart, vocabEnd, vocabLowerHash (each `vocabSize` long), then the
// ids of distinct words that are not all ASCII (lower-case hash left 0: the caller lower-cases them the Unicode
// way). Undefined when the text holds a surrogate pair (an astral code point, which `cls` cannot classify).
Napi::Value ScanWords(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[0], "scanWords");
    const uint8_t* cls = typed<uint8_t>(info[1], "scanWords", "cls", 65536).Data();
    const u16* t = sc.text.data();
    // words: start, end, id; distinct words: index of the first occurrence, lower-case hash
    size_t capWords = 0, capVocab = 0;
    int32_t *start = nullptr, *end = nullptr, *id = nullptr, *first = nullptr, *lower = nullptr;
    auto growWords = [&](size_t need) {
      start = ensure(sc.a, need);
      end = ensure(sc.b, need);
      id = ensure(sc.c, need);
      capWords = std::min(sc.a.size(), std::min(sc.b.size(), sc.c.size()));
    };
    auto growVocab = [&](size_t need) {
      first = ensure(sc.d, need);
      lower = ensure(sc.e, need);
      capVocab = std::min(sc.d.size(), sc.e.size());
    };
    growWords(64 + (n >> 3));
    growVocab(64 + (n >> 4));
    // open addressing over distinct words: slot -> id + 1 (and the word's hash), rehashed at half full
    size_t cap = 1024;
    while (cap < (n >> 4)) cap <<= 1;
    uint32_t* slots = ensure(sc.slots, cap);
    uint32_t* slotHash = ensure(sc.slotHash, cap);
    std::memset(slots, 0, sizeof(uint32_t) * cap);
    size_t count = 0, nv = 0, nonAscii = 0;
    size_t i = 0;
    while (i < n) {
      while (i < n && (cls[t[i]] & 1)) i++;
      if (i >= n) break;
      // leading punctuation/symbols
      size_t s = i;
      while (s < n && cls[t[s]] == 4) s++;
      // the token's remaining characters: the word ends after its last one that is not punctuation
      uint32_t h = FNV0, lh = FNV0, seen = 0;
      size_t e = s, wordEnd = s;
      uint32_t wordHash = h, wordLower = h, wordSeen = 0;
      while (e < n) {
        const uint32_t c = t[e];
        const uint32_t k = cls[c];
        if (k & 1) break;
        if (k & 8) {
          if (e + 1 < n && t[e + 1] >= 0xdc00 && t[e + 1] <= 0xdfff) return env.Undefined();
        }
        h = fnvStep(h, c);
        lh = fnvStep(lh, c + (((c - 65u) < 26u) << 5));
        seen |= c;
        e++;
        if (!(k & 4)) {
          wordEnd = e;
          wordHash = h;
          wordLower = lh;
          wordSeen = seen;
        }
      }
      i = e;
      if (wordEnd == s) continue;
      const int32_t ws = (int32_t)s, we = (int32_t)wordEnd, len = we - ws;
      if (count == capWords) growWords(count + 1);
      if (nv == capVocab) growVocab(nv + 1);
      if (2 * (nv + 1) > cap) {
        // rehash into a table twice the size
        const size_t cap2 = cap * 2;
        std::vector<uint32_t> s2(cap2, 0), h2(cap2);
        for (size_t q = 0; q < cap; q++) {
          if (!slots[q]) continue;
          size_t at = mixSlot(slotHash[q]) & (cap2 - 1);
          while (s2[at]) at = (at + 1) & (cap2 - 1);
          s2[at] = slots[q];
          h2[at] = slotHash[q];
        }
        slots = ensure(sc.slots, cap2);
        slotHash = ensure(sc.slotHash, cap2);
        std::memcpy(slots, s2.data(), sizeof(uint32_t) * cap2);
        std::memcpy(slotHash, h2.data(), sizeof(uint32_t) * cap2);
        cap = cap2;
      }
      const size_t mask = cap - 1;
      size_t at = mixSlot(wordHash) & mask;
      int32_t wid;
      for (;;) {
        const uint32_t v = slots[at];
        if (v == 0) {
          slots[at] = (uint32_t)nv + 1;
          slotHash[at] = wordHash;
          wid = (int32_t)nv++;
          first[wid] = (int32_t)count;
          if (wordSeen < 128) lower[wid] = (int32_t)wordLower;
          else {
            lower[wid] = 0;
            ensure(sc.nonAscii, nonAscii + 1)[nonAscii] = wid;
            nonAscii++;
          }
          break;
        }
        if (slotHash[at] == wordHash) {
          const int32_t f = first[v - 1];
          const int32_t fs = start[f];
          if (end[f] - fs == len) {
            int32_t j = 0;
            while (j < len && t[fs + j] == t[ws + j]) j++;
            if (j == len) {
              wid = (int32_t)v - 1;
              break;
            }
          }
        }
        at = (at + 1) & mask;
      }
      start[count] = ws;
      end[count] = we;
      id[count] = wid;
      count++;
    }
    Napi::Int32Array out = Napi::Int32Array::New(env, 2 + 3 * count + 3 * nv + nonAscii);
    int32_t* o = out.Data();
    o[0] = (int32_t)count;
    o[1] = (int32_t)nv;
    o += 2;
    std::memcpy(o, start, 4 * count);
    std::memcpy(o + count, end, 4 * count);
    std::memcpy(o + 2 * count, id, 4 * count);
    o += 3 * count;
    int32_t* na = o + 3 * nv;
    for (size_t k = 0; k < nv; k++) {
      o[k] = start[first[k]];
      o[nv + k] = end[first[k]];
      o[2 * nv + k] = lower[k];
    }
    if (nonAscii > 0) std::memcpy(na, sc.nonAscii.data(), 4 * nonAscii);
    return out;
  });
}

// A language model's tables (copied once; immutable afterwards, so threads may share it).
struct LangModel {
  std::vector<int32_t> keyHi, keyLo, slot, from, idx, direct;
  std::vector<double> w;
  uint32_t mask = 0;
  size_t langs = 0;
};

template <typename T>
std::vector<T> copyOf(const Napi::Value& v, const char* arg) {
  auto a = typed<T>(v, "languageModel", arg);
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

// languageModel(keyHi, keyLo, slot, from, idx, w, direct, langs) -> External
Napi::Value LanguageModelNew(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    auto* m = new LangModel();
    try {
      m->keyHi = copyOf<int32_t>(info[0], "keyHi");
      m->keyLo = copyOf<int32_t>(info[1], "keyLo");
      m->slot = copyOf<int32_t>(info[2], "slot");
      m->from = copyOf<int32_t>(info[3], "from");
      m->idx = copyOf<int32_t>(info[4], "idx");
      m->w = copyOf<double>(info[5], "w");
      m->direct = copyOf<int32_t>(info[6], "direct");
      if (!info[7].IsNumber()) throw ArgError{"languageModel: langs must be a number"};
      m->langs = (size_t)info[7].As<Napi::Number>().Int64Value();
      const size_t cap = m->slot.size();
      if (cap == 0 || (cap & (cap - 1)) || m->keyHi.size() != cap || m->keyLo.size() != cap || m->direct.size() != 32768)
        throw ArgError{"languageModel: tables have inconsistent sizes"};
      m->mask = (uint32_t)cap - 1;
      const size_t entries = m->from.size() - 1;
      for (int32_t s : m->slot)
        if (s < 0 || (size_t)s > entries) throw ArgError{"languageModel: slot out of range"};
      for (int32_t s : m->direct)
        if (s < 0 || (size_t)s > entries) throw ArgError{"languageModel: direct entry out of range"};
      for (size_t e = 0; e + 1 < m->from.size(); e++)
        if (m->from[e] < 0 || m->from[e] > m->from[e + 1] || (size_t)m->from[e + 1] > m->idx.size()) throw ArgError{"languageModel: from out of range"};
      for (int32_t l : m->idx)
        if (l < 0 || (size_t)l >= m->langs) throw ArgError{"languageModel: language index out of range"};
      if (m->w.size() != m->idx.size()) throw ArgError{"languageModel: w and idx differ in length"};
    } catch (...) {
      delete m;
      throw;
    }
    return Napi::External<LangModel>::New(info.Env(), m, [](Napi::Env, LangModel* p) { delete p; });
  });
}

// SMALL code of a folded unit: 0 space, 1..26 a..z, -1 otherwise.
inline int32_t smallCode(uint32_t c) { return c == 32 ? 0 : (c >= 97 && c <= 122 ? (int32_t)c - 96 : -1); }

// languageScores(model, text, sampleChars, minLetters, totals: Float64Array, fold: Int32Array(65536) | null, out: Int32Array(3))
// -> false when the sample holds a non-ASCII unit and no fold table was given (nothing else done), else true.
// The sample text[0, min(length, sampleChars)) is folded (letters lower-cased, other runs -> one space, a space
// at both ends: `fold[c]` = lower-case unit | letter << 16 | Latin << 17); out = [letters, Latin letters, seen
// trigrams]. When letters >= minLetters and Latin letters are at least half of them, totals[l] = sum over
// distinct profile trigrams of count * weight, added in order of first occurrence (language.ts's `counted`).
Napi::Value LanguageScores(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const char* fn = "languageScores";
    if (!info[0].IsExternal()) throw ArgError{"languageScores: model must come from languageModel"};
    const LangModel& m = *info[0].As<Napi::External<LangModel>>().Data();
    if (!info[2].IsNumber() || !info[3].IsNumber()) throw ArgError{"languageScores: sampleChars and minLetters must be numbers"};
    const double sc = info[2].As<Napi::Number>().DoubleValue();
    if (!(sc >= 0)) throw ArgError{"languageScores: sampleChars must be >= 0"};
    // only the sample is copied
    Scratch& scr = scratch();
    const size_t end = readText(scr, env, info[1], fn, sc < 1e15 ? (size_t)sc : SIZE_MAX);
    const double minLetters = info[3].As<Napi::Number>().DoubleValue();
    double* totals = typed<double>(info[4], fn, "totals", m.langs).Data();
    const int32_t* fold = info[5].IsNull() || info[5].IsUndefined() ? nullptr : typed<int32_t>(info[5], fn, "fold", 65536).Data();
    int32_t* out = typed<int32_t>(info[6], fn, "out", 3).Data();
    const u16* t = scr.text.data();
    if (!fold)
      for (size_t i = 0; i < end; i++)
        if (t[i] >= 128) return Napi::Boolean::New(env, false);
    std::vector<int32_t>& codes = scr.a;
    codes.resize(end + 2);
    size_t n = 0;
    codes[n++] = 32;
    int32_t letters = 0, latin = 0;
    uint32_t prev = 32;
    for (size_t i = 0; i < end; i++) {
      const uint32_t c = t[i];
      uint32_t f;
      if (c < 128) {
        const bool letter = (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
        f = letter ? ((c | 32) | (3u << 16)) : 32;
      } else {
        f = (uint32_t)fold[c];
      }
      const uint32_t code = f & 0xffff;
      const uint32_t l = (f >> 16) & 1;
      letters += l;
      latin += (f >> 17) & 1;
      // without data-dependent branches (word boundaries mispredict): a non-letter's code is 32, kept after a non-space
      codes[n] = (int32_t)code;
      n += l | (uint32_t)(prev != 32);
      prev = code;
    }
    if (prev != 32) codes[n++] = 32;
    out[0] = letters;
    out[1] = latin;
    out[2] = 0;
    for (size_t l = 0; l < m.langs; l++) totals[l] = 0;
    if ((double)letters < minLetters || (double)latin / (double)letters < 0.5) return Napi::Boolean::New(env, true);
    const size_t entries = m.from.size() - 1;
    std::vector<int32_t>& cnt = scr.langCount;
    if (cnt.size() < entries + 1) cnt.assign(entries + 1, 0);
    std::vector<int32_t>& list = scr.c;
    list.resize(n + 2);
    size_t distinct = 0;
    for (size_t i = 0; i + 2 < n; i++) {
      const int32_t p = smallCode(codes[i]), q = smallCode(codes[i + 1]), r = smallCode(codes[i + 2]);
      int32_t e;
      if ((p | q | r) >= 0) e = m.direct[(p << 10) | (q << 5) | r];
      else {
        const uint32_t hi = (uint32_t)codes[i], lo = ((uint32_t)codes[i + 1] << 16) | (uint32_t)codes[i + 2];
        uint32_t s = (((hi ^ (lo * 0x9e3779b1u)) * 0x85ebca6bu) >> 16) & m.mask;
        for (;;) {
          e = m.slot[s];
          if (e == 0 || ((uint32_t)m.keyHi[s] == hi && (uint32_t)m.keyLo[s] == lo)) break;
          s = (s + 1) & m.mask;
        }
      }
      // listed once, when its count leaves 0 (branch-free: first or repeat is unpredictable on prose)
      const int32_t old = cnt[e]++;
      list[distinct] = e;
      distinct += (size_t)(old == 0);
    }
    int32_t seen = 0;
    for (size_t j = 0; j < distinct; j++) {
      const int32_t e = list[j];
      const int32_t c = cnt[e];
      cnt[e] = 0;
      if (e == 0) continue;
      seen += c;
      for (int32_t k = m.from[e - 1], stop = m.from[e]; k < stop; k++) totals[m.idx[k]] += (double)c * m.w[k];
    }
    out[2] = seen;
    return Napi::Boolean::New(env, true);
  });
}

// Bits of cleanScreen: what the clean step's parts would find in a text (clean.ts CLEAN_SCREEN mirrors these).
constexpr uint32_t SCREEN_CONTROL = 1;      // \r, or a unit removeControlChars removes (C0/C1 controls but \t \n, zero-width, BOM, ...)
constexpr uint32_t SCREEN_MOJIBAKE = 2;     // a unit in [\u00C2-\u00F4]: fixMojibake has something to look at
constexpr uint32_t SCREEN_MARKUP = 4;       // '<' or '&': stripMarkup has something to look at
constexpr uint32_t SCREEN_COLLAPSIBLE = 8;  // a whitespace run collapseWhitespace rewrites
constexpr uint32_t SCREEN_NON_ASCII = 16;   // a unit >= 128 (ASCII text is its own NFC)
constexpr uint32_t SCREEN_TRIM = 32;        // leading or trailing whitespace (text.trim() !== text)
constexpr uint32_t SCREEN_REPEATS = 64;     // two equal non-empty paragraphs (split on "\n\n") or two equal lines of >= minLineChars

// Horizontal whitespace that collapses (clean.ts HSPACE): \t \u00a0 \u1680 \u2000-\u200a \u202f \u205f \u3000.
inline bool isHSpace(uint32_t c) {
  return c == 9 || (c >= 0xa0 && (c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x202f || c == 0x205f || c == 0x3000));
}
// JavaScript's \s (and String.prototype.trim's set) on one UTF-16 unit.
inline bool isJsSpace(uint32_t c) {
  if (c <= 32) return c == 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000 || c == 0xfeff;
}
// A unit clean.ts CONTROL_RE removes on its own (surrogates are judged with their neighbours).
inline bool isControl(uint32_t c) {
  if (c < 0x20) return c != 9 && c != 10 && c != 13;  // \r counts too, through the CR -> LF rewrite
  if (c < 0x7f) return false;
  if (c <= 0x9f) return true;
  return c == 0x200b || c == 0x200c || c == 0x200e || c == 0x200f || c == 0x2028 || c == 0x2029 || c == 0x2060 || c == 0xfeff ||
         c == 0xfffd || c == 0xfffe || c == 0xffff;
}

// A 32-bit hash of text[a, b) (four units per multiply), for finding equal ranges; equality is then checked.
inline uint32_t rangeHash(const u16* t, int32_t a, int32_t b) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)(b - a);
  int32_t j = a;
  for (; j + 4 <= b; j += 4) {
    uint64_t x;
    std::memcpy(&x, t + j, 8);
    h = (h ^ x) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  for (; j < b; j++) h = (h ^ t[j]) * 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  return (uint32_t)h;
}

// Counts ranges of `t` equal to an earlier one: out[0] += how many, out[1] += their units (findDuplicates);
// with `firstOnly`, stops at the first such range.
void countRepeats(const u16* t, const Ranges& r, std::vector<uint32_t>& slots, std::vector<uint32_t>& keys, int32_t* out,
                  bool firstOnly = false) {
  const std::vector<int32_t>& from = r.from;
  const std::vector<int32_t>& to = r.to;
  const size_t m = from.size();
  if (m < 2) return;
  size_t cap = 16;
  while (cap < 2 * m) cap <<= 1;
  if (slots.size() < cap) slots.resize(cap);
  if (keys.size() < cap) keys.resize(cap);
  std::memset(slots.data(), 0, sizeof(uint32_t) * cap);
  for (size_t k = 0; k < m; k++) {
    const int32_t a = from[k], len = to[k] - a;
    const uint32_t h = rangeHash(t, a, to[k]);
    size_t at = mixSlot(h) & (cap - 1);
    for (;;) {
      const uint32_t v = slots[at];
      if (v == 0) {
        slots[at] = (uint32_t)k + 1;
        keys[at] = h;
        break;
      }
      if (keys[at] == h) {
        const int32_t b = from[v - 1];
        if (to[v - 1] - b == len && std::memcmp(t + a, t + b, sizeof(u16) * len) == 0) {
          out[0]++;
          out[1] += len;
          if (firstOnly) return;
          break;
        }
      }
      at = (at + 1) & (cap - 1);
    }
  }
}

// True when two of the ranges of `t` hold the same units.
bool anyEqualRanges(const u16* t, const Ranges& r, std::vector<uint32_t>& slots, std::vector<uint32_t>& keys) {
  int32_t found[2] = {0, 0};
  countRepeats(t, r, slots, keys, found, true);
  return found[0] > 0;
}

// Screen bits of unit i judged with its neighbours (the definition the vector loop below must agree with).
// The collapsible runs are: a horizontal space other than ' ' (clean.ts [HSPACE], on its own), ' ' before ' ' or
// '\n', '\n' before ' ', and "\n\n" before '\n' (the other forms of COLLAPSIBLE_RE end in an [HSPACE] unit, which
// is caught on its own).
inline uint32_t unitBits(const u16* t, size_t n, size_t i) {
  const uint32_t c = t[i];
  if (c < 128) {
    switch (c) {
      case '<':
      case '&':
        return SCREEN_MARKUP;
      case ' ':
        return i + 1 < n && (t[i + 1] == ' ' || t[i + 1] == '\n') ? SCREEN_COLLAPSIBLE : 0;
      case '\n':
        if (i + 1 < n && t[i + 1] == ' ') return SCREEN_COLLAPSIBLE;
        return i + 2 < n && t[i + 1] == '\n' && t[i + 2] == '\n' ? SCREEN_COLLAPSIBLE : 0;
      case '\t':
        return SCREEN_COLLAPSIBLE;
      default:
        return c < 0x20 || c == 0x7f ? SCREEN_CONTROL : 0;
    }
  }
  uint32_t b = SCREEN_NON_ASCII;
  if (c >= 0xc2 && c <= 0xf4) b |= SCREEN_MOJIBAKE;
  if (isHSpace(c)) b |= SCREEN_COLLAPSIBLE;
  if (isControl(c)) b |= SCREEN_CONTROL;
  // lone surrogates: a high one not before a low one, a low one not after a high one
  if (c >= 0xd800 && c <= 0xdbff && !(i + 1 < n && t[i + 1] >= 0xdc00 && t[i + 1] <= 0xdfff)) b |= SCREEN_CONTROL;
  if (c >= 0xdc00 && c <= 0xdfff && !(i > 0 && t[i - 1] >= 0xd800 && t[i - 1] <= 0xdbff)) b |= SCREEN_CONTROL;
  return b;
}

// Screen bits of every unit (SCREEN_CONTROL .. SCREEN_NON_ASCII) and the positions of the newlines. Eight ASCII
// units at a time with SSE4.1 where the compiler targets it (x86-64-v2 does); blocks holding a non-ASCII unit, and
// the tail, go unit by unit.
uint32_t screenUnits(const u16* t, size_t n, std::vector<int32_t>& newlines) {
  uint32_t bits = 0;
  size_t i = 0;
#if defined(__SSE4_1__)
  const __m128i sp = _mm_set1_epi16(' '), nl = _mm_set1_epi16('\n'), tab = _mm_set1_epi16('\t'), lt = _mm_set1_epi16('<'),
                amp = _mm_set1_epi16('&'), del = _mm_set1_epi16(0x7f), c1f = _mm_set1_epi16(0x1f), c7f = _mm_set1_epi16(0x7f);
  __m128i coll = _mm_setzero_si128(), markup = _mm_setzero_si128(), ctrl = _mm_setzero_si128();
  for (; i + 10 <= n; i += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + i));
    // all ASCII: min(v, 127) == v in every lane
    if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_min_epu16(v, c7f), v)) != 0xffff) {
      for (size_t j = i; j < i + 8; j++) {
        bits |= unitBits(t, n, j);
        if (t[j] == '\n') newlines.push_back((int32_t)j);
      }
      continue;
    }
    const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + i + 1));
    const __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + i + 2));
    const __m128i isSp = _mm_cmpeq_epi16(v, sp), isNl = _mm_cmpeq_epi16(v, nl), isTab = _mm_cmpeq_epi16(v, tab);
    const __m128i nextSp = _mm_cmpeq_epi16(v1, sp), nextNl = _mm_cmpeq_epi16(v1, nl), next2Nl = _mm_cmpeq_epi16(v2, nl);
    coll = _mm_or_si128(coll, _mm_or_si128(isTab, _mm_or_si128(_mm_and_si128(isSp, _mm_or_si128(nextSp, nextNl)),
                                                                _mm_and_si128(isNl, _mm_or_si128(nextSp, _mm_and_si128(nextNl, next2Nl))))));
    markup = _mm_or_si128(markup, _mm_or_si128(_mm_cmpeq_epi16(v, lt), _mm_cmpeq_epi16(v, amp)));
    const __m128i low = _mm_cmpeq_epi16(_mm_min_epu16(v, c1f), v);  // v <= 0x1f
    ctrl = _mm_or_si128(ctrl, _mm_or_si128(_mm_andnot_si128(_mm_or_si128(isTab, isNl), low), _mm_cmpeq_epi16(v, del)));
    int m = _mm_movemask_epi8(isNl);
    while (m) {
      const int k = __builtin_ctz(m);
      newlines.push_back((int32_t)(i + (k >> 1)));
      m &= ~(3 << k);
    }
  }
  if (_mm_movemask_epi8(coll)) bits |= SCREEN_COLLAPSIBLE;
  if (_mm_movemask_epi8(markup)) bits |= SCREEN_MARKUP;
  if (_mm_movemask_epi8(ctrl)) bits |= SCREEN_CONTROL;
#endif
  for (; i < n; i++) {
    bits |= unitBits(t, n, i);
    if (t[i] == '\n') newlines.push_back((int32_t)i);
  }
  return bits;
}

// cleanScreen(text, minLineChars) -> bits (SCREEN_*), each the exact answer for the text as given.
Napi::Value CleanScreen(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[0], "cleanScreen");
    if (!info[1].IsNumber()) throw ArgError{"cleanScreen: minLineChars must be a number"};
    const double minLine = info[1].As<Napi::Number>().DoubleValue();
    const u16* t = sc.text.data();
    std::vector<int32_t>& nls = sc.e;
    nls.clear();
    uint32_t bits = screenUnits(t, n, nls);
    if (n > 0 && (isJsSpace(t[0]) || isJsSpace(t[n - 1]))) bits |= SCREEN_TRIM;
    // paragraphs (split on "\n\n", left to right) and the lines inside them (split on "\n"): cut at each newline,
    // a newline directly followed by another being a paragraph break that takes both
    Ranges& paras = sc.paras;
    Ranges& lines = sc.lines;
    paras.clear();
    lines.clear();
    int32_t para = 0, line = 0;
    auto endLine = [&](int32_t at) {
      if ((double)(at - line) >= minLine) lines.add(line, at);
    };
    for (size_t j = 0; j < nls.size(); j++) {
      const int32_t at = nls[j];
      endLine(at);
      if (j + 1 < nls.size() && nls[j + 1] == at + 1) {
        if (at > para) paras.add(para, at);
        para = line = at + 2;
        j++;
      } else line = at + 1;
    }
    endLine((int32_t)n);
    if ((int32_t)n > para) paras.add(para, n);
    if (anyEqualRanges(t, paras, sc.slots, sc.slotHash) || anyEqualRanges(t, lines, sc.slots, sc.slotHash)) bits |= SCREEN_REPEATS;
    return Napi::Number::New(env, bits);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Gopher repetition figures (gopherRepetition.ts gopherRepetitionFigures is the definition; GopherRepetitionRule
// takes this path when the addon is loaded). Every figure is an integer count of items or code points, returned as
// doubles (exact below 2^53) for the TypeScript to divide, so both paths decide alike at every threshold. Hashes
// only pick candidates; every match is checked on the units, so a hash collision costs time, never a figure.

// Code points in t[a, b): a low surrogate right after a high one (anywhere in the text, as the TypeScript's prefix
// counts read it) is the tail of a pair and does not count.
inline int64_t codePointsIn(const u16* t, size_t a, size_t b) {
  int64_t n = (int64_t)(b - a);
  for (size_t j = a; j < b; j++)
    if ((t[j] & 0xfc00) == 0xdc00 && j > 0 && (t[j - 1] & 0xfc00) == 0xd800) n--;
  return n;
}

// Python's str.isspace() on one UTF-16 unit (words/pyString.ts isPySpace).
inline bool isPySpace(uint32_t c) {
  if (c < 128) return c == 32 || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
  return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

// True when a[0, len) and b[0, len) hold the same elements (an inline loop: the keys compared here are short).
template <typename T>
inline bool sameUnits(const T* a, const T* b, size_t len) {
  for (size_t k = 0; k < len; k++)
    if (a[k] != b[k]) return false;
  return true;
}

// Appends the positions of '\n' in t[0, n) to `nl`; returns true when t holds a surrogate. Eight units at a time
// (SSE2, in the x86-64-v2 baseline): most of the figures' time on prose was this scan.
bool scanNewlines(const u16* t, size_t n, std::vector<int32_t>& nl) {
  size_t j = 0;
  bool surrogate = false;
#if defined(__SSE4_1__)
  const __m128i lf = _mm_set1_epi16('\n'), top5 = _mm_set1_epi16((short)0xf800), sur = _mm_set1_epi16((short)0xd800);
  __m128i anySur = _mm_setzero_si128();
  for (; j + 8 <= n; j += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + j));
    anySur = _mm_or_si128(anySur, _mm_cmpeq_epi16(_mm_and_si128(v, top5), sur));
    uint32_t bits = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi16(v, lf)) & 0x5555u;
    while (bits) {
      nl.push_back((int32_t)(j + (__builtin_ctz(bits) >> 1)));
      bits &= bits - 1;
    }
  }
  surrogate = _mm_movemask_epi8(anySur) != 0;
#endif
  for (; j < n; j++) {
    if (t[j] == '\n') nl.push_back((int32_t)j);
    surrogate |= (t[j] & 0xf800) == 0xd800;
  }
  return surrogate;
}

// Open-addressing set of (64-bit hash, item) emptied in O(1) by generation stamps; the caller's `same(item)`
// says whether an entry with an equal hash holds an equal key.
struct StampedTable {
  struct Slot {
    uint64_t hash;
    uint32_t stamp;
    int32_t item;
  };
  std::vector<Slot> slots;
  uint32_t gen = 0;
  int shift = 60;
  size_t mask = 15;
  void reset(size_t items) {
    int bits = 4;
    while (((size_t)1 << bits) < 2 * items) bits++;
    const size_t cap = (size_t)1 << bits;
    if (slots.size() < cap) {
      slots.assign(cap, Slot{0, 0, 0});
      gen = 0;
    }
    shift = 64 - bits;
    mask = cap - 1;
    if (++gen == 0) {
      for (Slot& s : slots) s.stamp = 0;
      gen = 1;
    }
  }
  // The item of an entry equal to the key, or -1 after adding (hash, item).
  template <typename Same>
  int32_t findOrAdd(uint64_t hash, int32_t item, Same same) {
    for (size_t at = (size_t)((hash * 0x9e3779b97f4a7c15ull) >> shift);; at = (at + 1) & mask) {
      Slot& s = slots[at];
      if (s.stamp != gen) {
        s = Slot{hash, gen, item};
        return -1;
      }
      if (s.hash == hash && same(s.item)) return s.item;
    }
  }
};

// Counters that mark which of 2^bits buckets were hit once and which twice or more (a byte each: no two hashes
// share a counter unless they share a bucket): a cheap first pass that leaves out the n-grams that cannot repeat
// (alone in their bucket), so that the exact table sees few of them.
struct Buckets {
  std::vector<uint8_t> hits;
  int shift = 58;
  void reset(size_t items) {
    int bits = 6;
    while (((size_t)1 << bits) < 4 * items) bits++;
    const size_t cap = (size_t)1 << bits;
    if (hits.size() < cap) hits.resize(cap);
    std::memset(hits.data(), 0, cap);
    shift = 64 - bits;
  }
  size_t of(uint64_t h) const { return (size_t)((h * 0xff51afd7ed558ccdull) >> shift); }
  void add(uint64_t h) {
    uint8_t& x = hits[of(h)];
    x |= (uint8_t)((x << 1) | 1);
  }
  bool shared(uint64_t h) const { return hits[of(h)] > 1; }
};

struct GopherScratch {
  std::vector<u16> joined;            // the words' units one after another (no separator)
  std::vector<int64_t> u, c;          // u[i], c[i]: units and code points of words 0..i-1
  std::vector<uint64_t> q;            // q[k]: sum of joined[j] * HASH_BASE^-j over j < k
  std::vector<uint64_t> pw, ipw;      // HASH_BASE^k and HASH_BASE^-k (mod 2^64)
  std::vector<uint64_t> h;            // per position: the n-gram's hash
  std::vector<int32_t> ids, act, cls, members, cand, dupAct, nl, from, to;
  std::vector<int64_t> bound;
  StampedTable table;
  Buckets buckets;
};
GopherScratch& gopherScratch() {
  thread_local GopherScratch s;
  return s;
}

constexpr uint64_t HASH_BASE = 0x100000001b3ull;

// The inverse of an odd number mod 2^64 (Newton's iteration doubles the correct low bits each step).
constexpr uint64_t inverseOdd(uint64_t b) {
  uint64_t x = b;
  for (int k = 0; k < 6; k++) x *= 2 - b * x;
  return x;
}
static_assert(HASH_BASE * inverseOdd(HASH_BASE) == 1, "HASH_BASE must be invertible mod 2^64");

// Repeated spans [from[k], to[k]) of t (datatrove's find_duplicates): out[0] = how many equal an earlier one,
// out[1] = their code points.
void gopherRepeats(const u16* t, bool surrogates, const std::vector<int32_t>& from, const std::vector<int32_t>& to, StampedTable& table,
                   double* out) {
  const size_t m = from.size();
  table.reset(m);
  int64_t items = 0, chars = 0;
  for (size_t k = 0; k < m; k++) {
    const int32_t a = from[k], len = to[k] - a;
    const uint64_t h = (uint64_t)rangeHash(t, a, to[k]) << 32 | (uint32_t)len;
    const int32_t o = table.findOrAdd(h, (int32_t)k, [&](int32_t o) {
      return to[o] - from[o] == len && std::memcmp(t + from[o], t + a, sizeof(u16) * len) == 0;
    });
    if (o >= 0) {
      items++;
      chars += surrogates ? codePointsIn(t, a, a + len) : len;
    }
  }
  out[0] = (double)items;
  out[1] = (double)chars;
}

// gopherLineRepeats(text, out: Float64Array(7)): out = [code points of the text, paragraphs, repeated paragraphs,
// their code points, lines, repeated lines, their code points]; paragraphs are re.split(r"\n{2,}", text.strip()),
// lines re.split("\n+", text) (gopherRepetition.ts paragraphsAndLinesPlain, repeatedItemsPlain).
Napi::Value GopherLineRepeats(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const char* fn = "gopherLineRepeats";
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[0], fn);
    double* out = typed<double>(info[1], fn, "out", 7).Data();
    const u16* t = sc.text.data();
    GopherScratch& g = gopherScratch();
    std::vector<int32_t>& nl = g.nl;
    nl.clear();
    const bool surrogates = scanNewlines(t, n, nl);
    const size_t nn = nl.size();
    out[0] = surrogates ? (double)codePointsIn(t, 0, n) : (double)n;
    // paragraphs: in the stripped text [a, b), split at every run of two or more '\n' (none is at its ends)
    size_t a = 0, b = n;
    while (a < b && isPySpace(t[a])) a++;
    while (b > a && isPySpace(t[b - 1])) b--;
    g.from.clear();
    g.to.clear();
    size_t s = a;
    for (size_t k = 0; k < nn; k++) {
      const size_t j = (size_t)nl[k];
      if (j < a || j >= b) continue;
      size_t last = k;
      while (last + 1 < nn && (size_t)nl[last + 1] == (size_t)nl[last] + 1) last++;
      if (last > k) {
        g.from.push_back((int32_t)s);
        g.to.push_back((int32_t)j);
        s = (size_t)nl[last] + 1;
      }
      k = last;
    }
    g.from.push_back((int32_t)s);
    g.to.push_back((int32_t)b);
    out[1] = (double)g.from.size();
    gopherRepeats(t, surrogates, g.from, g.to, g.table, out + 2);
    // lines: split at every run of '\n' (outer ones make empty lines)
    g.from.clear();
    g.to.clear();
    s = 0;
    for (size_t k = 0; k < nn; k++) {
      g.from.push_back((int32_t)s);
      g.to.push_back(nl[k]);
      while (k + 1 < nn && nl[k + 1] == nl[k] + 1) k++;
      s = (size_t)nl[k] + 1;
    }
    g.from.push_back((int32_t)s);
    g.to.push_back((int32_t)n);
    out[4] = (double)g.from.size();
    gopherRepeats(t, surrogates, g.from, g.to, g.table, out + 5);
    return env.Undefined();
  });
}

// The words of a Gopher kernel's arguments: text[start[i], end[i]) for i < count, with start = info[1],
// end = info[2] (Int32Arrays of at least count values) and count = info[3].
struct WordSpans {
  const int32_t* start;
  const int32_t* end;
  size_t count;
};
static WordSpans wordSpans(const Napi::CallbackInfo& info, const char* fn) {
  if (!info[3].IsNumber()) throw ArgError{std::string(fn) + ": count must be a number"};
  const double countD = info[3].As<Napi::Number>().DoubleValue();
  if (!(countD >= 0 && countD <= 0x7ffffff0 && countD == (double)(size_t)countD))
    throw ArgError{std::string(fn) + ": count must be a non-negative integer"};
  const size_t m = (size_t)countD;
  return {typed<int32_t>(info[1], fn, "start", m).Data(), typed<int32_t>(info[2], fn, "end", m).Data(), m};
}

// gopherNGrams(text, start: Int32Array, end: Int32Array, count, tops: Int32Array, dups: Int32Array, out: Float64Array)
// Words are text[start[i], end[i]) for i < count. out[k] for k < tops.length: the code points of the most frequent
// tops[k]-gram (words joined by one space; of equal counts the first seen) times its count, or -1 when there are
// fewer words than that (gopherRepetition.ts topNGramCharsPlain); then out[tops.length + k]: the code points in
// repeated dups[k]-grams, keyed by their words joined with nothing, scanning left to right and jumping past a
// repeat (duplicatedNGramCharsPlain). Top n-grams are compared as word sequences (words hold no spaces). Given
// len (the text's code points) and topLimits, a top figure whose upper bound b has b / len <= topLimits[k] (the
// rule's own comparison, so that figure / len <= topLimits[k] follows) is not counted: out[k] = -2.
Napi::Value GopherNGrams(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const char* fn = "gopherNGrams";
    if (info.Length() < 7) throw ArgError{std::string(fn) + ": expected (text, start, end, count, tops, dups, out, len?, topLimits?)"};
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[0], fn);
    const WordSpans w = wordSpans(info, fn);
    const size_t m = w.count;
    const int32_t* start = w.start;
    const int32_t* end = w.end;
    auto topsA = typed<int32_t>(info[4], fn, "tops");
    auto dupsA = typed<int32_t>(info[5], fn, "dups");
    const size_t nt = topsA.ElementLength(), nd = dupsA.ElementLength();
    double* out = typed<double>(info[6], fn, "out", nt + nd).Data();
    const int32_t* tops = topsA.Data();
    const int32_t* dups = dupsA.Data();
    double len = 0;
    const double* topLimits = nullptr;
    if (info.Length() > 8 && !info[8].IsUndefined() && !info[8].IsNull()) {
      if (!info[7].IsNumber()) throw ArgError{std::string(fn) + ": len must be a number when topLimits are given"};
      len = info[7].As<Napi::Number>().DoubleValue();
      topLimits = typed<double>(info[8], fn, "topLimits", nt).Data();
    }
    for (size_t k = 0; k < nt + nd; k++)
      if ((k < nt ? tops[k] : dups[k - nt]) < 1) throw ArgError{std::string(fn) + ": n-gram sizes must be >= 1"};
    const u16* t = sc.text.data();
    GopherScratch& g = gopherScratch();

    // the words: their units one after another, prefix counts of units and code points, prefix hashes
    int64_t* u = ensure(g.u, m + 1);
    u[0] = 0;
    for (size_t i = 0; i < m; i++) {
      if (start[i] < 0 || start[i] > end[i] || (size_t)end[i] > n)
        throw ArgError{std::string(fn) + ": word " + std::to_string(i) + " [" + std::to_string(start[i]) + ", " + std::to_string(end[i]) +
                       ") is not a span of the text (" + std::to_string(n) + " units)"};
      u[i + 1] = u[i] + (end[i] - start[i]);
    }
    const size_t units = (size_t)u[m];
    u16* joined = ensure(g.joined, units + 8);
    uint64_t* q = ensure(g.q, units + 1);
    if (g.pw.size() < units + 1) {
      size_t k = g.pw.size();
      g.pw.resize(units + 1 + (units >> 1));
      g.ipw.resize(g.pw.size());
      if (k == 0) {
        g.pw[0] = g.ipw[0] = 1;
        k = 1;
      }
      constexpr uint64_t inv = inverseOdd(HASH_BASE);
      for (; k < g.pw.size(); k++) {
        g.pw[k] = g.pw[k - 1] * HASH_BASE;
        g.ipw[k] = g.ipw[k - 1] * inv;
      }
    }
    const uint64_t* pw = g.pw.data();
    const uint64_t* ipw = g.ipw.data();
    // q as a sum rather than Horner's h = h * B + x: the multiplies do not wait on one another
    for (size_t i = 0; i < m; i++) {
      const size_t len = (size_t)(end[i] - start[i]);
      // a word of up to 8 units in one 16-byte move where the text runs on that far (joined has room for it)
      if (len <= 8 && (size_t)start[i] + 8 <= n) std::memcpy(joined + u[i], t + start[i], 16);
      else std::memcpy(joined + u[i], t + start[i], sizeof(u16) * len);
    }
    uint64_t h = 0;
    uint32_t surrogate = 0;
    q[0] = 0;
    for (size_t k = 0; k < units; k++) {
      const u16 x = joined[k];
      surrogate |= (x & 0xf800) == 0xd800;
      h += x * ipw[k];
      q[k + 1] = h;
    }
    // code points: units, less the tails of surrogate pairs where the text has any
    const int64_t* c = u;
    if (surrogate) {
      int64_t* cp = ensure(g.c, m + 1);
      cp[0] = 0;
      for (size_t i = 0; i < m; i++) cp[i + 1] = cp[i] + codePointsIn(t, start[i], end[i]);
      c = cp;
    }
    // hash of joined[a, b), the same wherever those units stand: sum of joined[j] * B^(b - j); of the words
    // i..j-1 joined with nothing
    auto unitsHash = [&](size_t a, size_t b) { return (q[b] - q[a]) * pw[b]; };
    auto joinedHash = [&](size_t i, size_t j) { return unitsHash((size_t)u[i], (size_t)u[j]); };
    StampedTable& table = g.table;
    Buckets& buckets = g.buckets;

    // top n-grams: n-grams numbered into classes size after size, the class of an (n+1)-gram from the class of its
    // first n words and its last word; an n-gram that occurs once cannot repeat at a larger size, so it leaves the
    // active positions for good (gopherRepetition.ts TopNGrams)
    bool exact = topLimits == nullptr;
    if (topLimits && nt > 0) {
      // no n-gram occurs more often than the rarest of its words, so (its characters) * (its rarest word's count)
      // bounds its figure; word counts per hash bucket, unchecked (words sharing a bucket only raise the bound).
      // A size whose bound / len is within its limit needs no counting (gopherRepetition.ts WordRuns.topBounds).
      int bits = 4;
      while (((size_t)1 << bits) < 2 * m) bits++;
      int32_t* counts = ensure(g.members, (size_t)1 << bits);
      int32_t* wordCount = ensure(g.cls, m + 1);
      std::memset(counts, 0, sizeof(int32_t) << bits);
      for (size_t i = 0; i < m; i++) {
        const uint64_t hw = joinedHash(i, i + 1) ^ (uint64_t)(u[i + 1] - u[i]);
        wordCount[i] = (int32_t)((hw * 0x9e3779b97f4a7c15ull) >> (64 - bits));
        counts[wordCount[i]]++;
      }
      for (size_t i = 0; i < m; i++) wordCount[i] = counts[wordCount[i]];
      // bounds of every size up to the largest asked, in one pass
      size_t maxN = 0;
      for (size_t k = 0; k < nt; k++) maxN = std::max(maxN, (size_t)tops[k]);
      maxN = std::min(maxN, m);
      std::vector<int64_t>& bound = g.bound;
      bound.assign(maxN + 1, 0);
      // least[i]: the smallest count among words i..i+n-1, grown size by size
      int32_t* least = ensure(g.act, m + 1);
      std::memcpy(least, wordCount, sizeof(int32_t) * m);
      for (size_t n = 1; n <= maxN; n++) {
        int64_t best = 0;
        for (size_t i = 0; i + n <= m; i++) {
          least[i] = std::min(least[i], wordCount[i + n - 1]);
          best = std::max(best, (c[i + n] - c[i] + (int64_t)n - 1) * least[i]);
        }
        bound[n] = best;
      }
      for (size_t k = 0; k < nt; k++) {
        const size_t ng = (size_t)tops[k];
        out[k] = 0;
        if (m < ng) continue;
        if ((double)bound[ng] / len <= topLimits[k]) out[k] = -2;
        else exact = true;
      }
    }
    if (nt > 0 && exact) {
      int32_t* ids = ensure(g.ids, m + 1);
      int32_t* act = ensure(g.act, m + 1);
      int32_t* cls = ensure(g.cls, m + 1);
      table.reset(m);
      int32_t classes = 0;
      for (size_t i = 0; i < m; i++) {
        const int64_t len = u[i + 1] - u[i];
        const int32_t o = table.findOrAdd(joinedHash(i, i + 1) ^ (uint64_t)len, (int32_t)i, [&](int32_t o) {
          return u[o + 1] - u[o] == len && sameUnits(joined + u[o], joined + u[i], (size_t)len);
        });
        ids[i] = o < 0 ? classes++ : ids[o];
      }
      size_t active = 0, size = 0;
      int32_t* members = nullptr;
      // counts each class's members and keeps the active positions of classes with two or more
      auto keepRepeated = [&]() {
        members = ensure(g.members, (size_t)classes + 1);
        std::memset(members, 0, sizeof(int32_t) * (size_t)classes);
        for (size_t j = 0; j < active; j++) members[cls[j]]++;
        size_t kept = 0;
        for (size_t j = 0; j < active; j++) {
          act[kept] = act[j];
          cls[kept] = cls[j];
          kept += members[cls[j]] > 1;
        }
        active = kept;
      };
      for (size_t k = 0; k < nt; k++) {
        const size_t ng = (size_t)tops[k];
        if (m < ng) {
          out[k] = -1;
          continue;
        }
        if (topLimits && out[k] == -2) continue;
        if (size == 0 || size > ng) {
          for (size_t i = 0; i < m; i++) {
            act[i] = (int32_t)i;
            cls[i] = ids[i];
          }
          active = m;
          size = 1;
          int32_t distinct = 0;
          for (size_t i = 0; i < m; i++) distinct = std::max(distinct, ids[i] + 1);
          classes = distinct;
          keepRepeated();
        }
        while (size < ng) {
          // classes of (class, next word) pairs: the pair itself is the key, so no check on the units is needed
          table.reset(active);
          int32_t next = 0;
          size_t kept = 0;
          for (size_t j = 0; j < active; j++) {
            const size_t i = (size_t)act[j];
            if (i + size >= m) continue;
            const uint64_t key = (uint64_t)(uint32_t)cls[j] << 32 | (uint32_t)ids[i + size];
            const int32_t o = table.findOrAdd(key, next, [](int32_t) { return true; });
            act[kept] = (int32_t)i;
            cls[kept++] = o < 0 ? next++ : o;
          }
          active = kept;
          classes = next;
          size++;
          keepRepeated();
        }
        // the largest count, then its first position in text order: the first seen of the classes with that count
        int32_t best = 1;
        for (size_t j = 0; j < active; j++) best = std::max(best, members[cls[j]]);
        size_t at = 0;
        if (best > 1)
          for (size_t j = 0; j < active; j++)
            if (members[cls[j]] == best) {
              at = (size_t)act[j];
              break;
            }
        out[k] = (double)((c[at + ng] - c[at] + (int64_t)ng - 1) * best);
      }
    }

    if (nt > 0 && !exact)
      for (size_t k = 0; k < nt; k++)
        if (m < (size_t)tops[k]) out[k] = -1;
    // duplicated n-grams, keyed by their words joined with nothing. Two equal n-grams start with the same `s`
    // units for any s up to their length, so at each size the active positions whose first s units (s = the
    // shortest active n-gram) are alone in their bucket can take no part at this size or any larger one, and
    // leave for good (gopherRepetition.ts DuplicatedNGrams); on prose most leave at the first size.
    uint64_t* hs = ensure(g.h, m + 1);
    int32_t* cand = ensure(g.cand, m + 1);
    int32_t* dact = ensure(g.dupAct, m + 1);
    size_t active = 0, size = 0;
    for (size_t k = 0; k < nd; k++) {
      const size_t ng = (size_t)dups[k];
      double& figure = out[nt + k];
      figure = 0;
      if (m < ng + 1) continue;  // one n-gram or none: nothing repeats
      if (size == 0 || ng < size) {
        for (size_t i = 0; i < m; i++) dact[i] = (int32_t)i;
        active = m;
      }
      size = ng;
      // positions that still start an n-gram, and the shortest of those n-grams
      int64_t shortest = INT64_MAX;
      size_t kept = 0;
      for (size_t j = 0; j < active; j++) {
        const size_t i = (size_t)dact[j];
        if (i + ng > m) break;
        dact[kept++] = (int32_t)i;
        shortest = std::min(shortest, u[i + ng] - u[i]);
      }
      active = kept;
      if (active < 2) {
        active = 0;
        continue;
      }
      buckets.reset(active);
      for (size_t j = 0; j < active; j++) {
        const size_t a = (size_t)u[dact[j]];
        hs[j] = unitsHash(a, a + (size_t)shortest);
        buckets.add(hs[j]);
      }
      kept = 0;
      for (size_t j = 0; j < active; j++) {
        // branch-free: keeping or not is a coin toss the predictor would lose
        dact[kept] = dact[j];
        kept += buckets.shared(hs[j]);
      }
      active = kept;
      if (active < 2) continue;
      // candidates at this size: whole n-grams that share a bucket (the others stay active for larger sizes)
      buckets.reset(active);
      for (size_t j = 0; j < active; j++) {
        const size_t i = (size_t)dact[j];
        hs[j] = joinedHash(i, i + ng) ^ (uint64_t)(u[i + ng] - u[i]);
        buckets.add(hs[j]);
      }
      size_t nc = 0;
      for (size_t j = 0; j < active; j++) {
        cand[nc] = dact[j];
        hs[nc] = hs[j];
        nc += buckets.shared(hs[j]);
      }
      // the left-to-right scan over the candidates (an n-gram that cannot equal another neither repeats nor is
      // repeated, so leaving it out of the table changes nothing)
      table.reset(nc);
      int64_t total = 0;
      size_t next = 0;
      for (size_t j = 0; j < nc; j++) {
        const size_t i = (size_t)cand[j];
        if (i < next) continue;
        const int64_t len = u[i + ng] - u[i];
        const int32_t o = table.findOrAdd(hs[j], (int32_t)i, [&](int32_t o) {
          return u[o + ng] - u[o] == len && sameUnits(joined + u[o], joined + u[i], (size_t)len);
        });
        if (o >= 0) {
          total += c[i + ng] - c[i];
          next = i + ng;
        }
      }
      figure = (double)total;
    }
    return env.Undefined();
  });
}

// gopherTokenStats(text, start, end, count, bits: Uint8Array(65536), stops: Uint16Array, stopEnds: Int32Array,
//                  out: Float64Array(4)) -> boolean
// The token pass of the Gopher quality rule (gopherQuality.ts GopherQualityRule.tokenStatsTs, its definition):
// out = [tokens with a unit whose bits lack PUNCT (1), their code points, tokens with a unit with ALPHA (2),
// distinct stop words among the tokens, compared exactly]; stop word k is stops[stopEnds[k - 1], stopEnds[k]).
// False (nothing done) when a token holds a surrogate pair (a high surrogate has bit HIGH (4); an astral code
// point's bits are not in the table, so the TypeScript takes that text) or there are more than 64 stop words.
Napi::Value GopherTokenStats(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const char* fn = "gopherTokenStats";
    if (info.Length() < 8) throw ArgError{std::string(fn) + ": expected (text, start, end, count, bits, stops, stopEnds, out)"};
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[0], fn);
    const WordSpans w = wordSpans(info, fn);
    const size_t m = w.count;
    const int32_t* start = w.start;
    const int32_t* end = w.end;
    const uint8_t* bits = typed<uint8_t>(info[4], fn, "bits", 65536).Data();
    auto stopsA = typed<uint16_t>(info[5], fn, "stops");
    auto endsA = typed<int32_t>(info[6], fn, "stopEnds");
    double* out = typed<double>(info[7], fn, "out", 4).Data();
    const size_t nStops = endsA.ElementLength();
    if (nStops > 64) return Napi::Boolean::New(env, false);
    const uint16_t* stopUnits = stopsA.Data();
    const int32_t* stopEnds = endsA.Data();
    // stop words by length: a bit mask per length
    uint64_t byLength[65] = {};
    size_t longest = 0;
    for (size_t k = 0; k < nStops; k++) {
      const int32_t a = k == 0 ? 0 : stopEnds[k - 1];
      if (a > stopEnds[k] || (size_t)stopEnds[k] > stopsA.ElementLength())
        throw ArgError{std::string(fn) + ": stopEnds must be non-decreasing and within stops"};
      const size_t len = (size_t)(stopEnds[k] - a);
      if (len > 64) return Napi::Boolean::New(env, false);
      byLength[len] |= 1ull << k;
      longest = std::max(longest, len);
    }
    const u16* t = sc.text.data();
    int64_t words = 0, wordChars = 0, alpha = 0;
    uint64_t seen = 0;
    for (size_t i = 0; i < m; i++) {
      const int32_t s = start[i], e = end[i];
      if (s < 0 || s > e || (size_t)e > n)
        throw ArgError{std::string(fn) + ": token " + std::to_string(i) + " [" + std::to_string(s) + ", " + std::to_string(e) +
                       ") is not a span of the text (" + std::to_string(n) + " units)"};
      uint32_t any = 0, all = 1;
      for (int32_t j = s; j < e; j++) {
        const uint32_t f = bits[t[j]];
        if ((f & 4) && j + 1 < e && (t[j + 1] & 0xfc00) == 0xdc00) return Napi::Boolean::New(env, false);
        any |= f;
        all &= f;
      }
      if (all == 0) {
        words++;
        wordChars += e - s;
      }
      alpha += (any >> 1) & 1;
      const size_t len = (size_t)(e - s);
      if (len <= longest) {
        for (uint64_t cand = byLength[len] & ~seen; cand; cand &= cand - 1) {
          const int k = __builtin_ctzll(cand);
          const uint16_t* w = stopUnits + (k == 0 ? 0 : stopEnds[k - 1]);
          size_t j = 0;
          while (j < len && t[s + j] == w[j]) j++;
          if (j == len) seen |= 1ull << k;
        }
      }
    }
    out[0] = (double)words;
    out[1] = (double)wordChars;
    out[2] = (double)alpha;
    out[3] = (double)__builtin_popcountll(seen);
    return Napi::Boolean::New(env, true);
  });
}

// A set of ASCII needles for case-insensitive search (copied once; immutable afterwards).
struct NeedleSet {
  std::vector<std::string> needles;
  bool empty = false;                 // an empty needle: every text contains it
  uint64_t first1[128] = {};          // needles of one character, by that (lower-case) character
  std::vector<uint64_t> first2;       // needles of two or more, by their first two characters (128 x 128)
  std::vector<uint8_t> any2;          // 1 where first2 is not 0 (a table that stays in the L1 cache)
};

inline uint32_t lowerAscii(uint32_t c) { return c + (((c - 65u) < 26u) << 5); }

// needleSet(needles: string[]) -> External; at most 64 ASCII needles.
Napi::Value NeedleSetNew(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    if (!info[0].IsArray()) throw ArgError{"needleSet: needles must be an array of strings"};
    Napi::Array arr = info[0].As<Napi::Array>();
    if (arr.Length() > 64) throw ArgError{"needleSet: at most 64 needles"};
    auto* ns = new NeedleSet();
    ns->first2.assign(128 * 128, 0);
    ns->any2.assign(128 * 128, 0);
    for (uint32_t k = 0; k < arr.Length(); k++) {
      Napi::Value v = arr.Get(k);
      if (!v.IsString()) {
        delete ns;
        throw ArgError{"needleSet: needles must be an array of strings"};
      }
      std::u16string w = v.As<Napi::String>().Utf16Value();
      std::string a;
      for (char16_t c : w) {
        if (c >= 128) {
          delete ns;
          throw ArgError{"needleSet: needles must be ASCII"};
        }
        a.push_back((char)c);
      }
      if (a.empty()) ns->empty = true;
      else if (a.size() == 1) ns->first1[(uint8_t)a[0]] |= 1ull << k;
      else {
        ns->first2[(uint8_t)a[0] * 128 + (uint8_t)a[1]] |= 1ull << k;
        ns->any2[(uint8_t)a[0] * 128 + (uint8_t)a[1]] = 1;
      }
      ns->needles.push_back(a);
    }
    return Napi::External<NeedleSet>::New(info.Env(), ns, [](Napi::Env, NeedleSet* p) { delete p; });
  });
}

// needleSearch(set, text) -> 1 when text.toLowerCase() contains a needle, 0 when it does not, -1 when the text
// holds U+0130 or U+212A (whose lower case holds an ASCII letter) and no needle was found: the caller decides.
// A needle with an upper-case letter never matches (the lower-cased text has none).
Napi::Value NeedleSearch(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!info[0].IsExternal()) throw ArgError{"needleSearch: set must come from needleSet"};
    const NeedleSet& ns = *info[0].As<Napi::External<NeedleSet>>().Data();
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[1], "needleSearch");
    if (ns.empty) return Napi::Number::New(env, 1);
    const u16* t = sc.text.data();
    bool special = false;
    for (size_t i = 0; i < n; i++) {
      const uint32_t c0 = t[i];
      if (c0 >= 128) {
        if (c0 == 0x130 || c0 == 0x212a) special = true;
        continue;
      }
      const uint32_t l0 = lowerAscii(c0);
      uint64_t m = ns.first1[l0];
      if (i + 1 < n && t[i + 1] < 128) {
        const uint32_t pair = l0 * 128 + lowerAscii(t[i + 1]);
        if (ns.any2[pair]) m |= ns.first2[pair];
      }
      while (m) {
        const int k = __builtin_ctzll(m);
        m &= m - 1;
        const std::string& w = ns.needles[k];
        if (i + w.size() > n) continue;
        size_t j = 2;
        while (j < w.size() && t[i + j] < 128 && lowerAscii(t[i + j]) == (uint8_t)w[j]) j++;
        if (j >= w.size()) return Napi::Number::New(env, 1);
      }
    }
    return Napi::Number::New(env, special ? -1 : 0);
  });
}

// minhashSignature(text, lowered, ngram, xa: Uint32Array(k), ma: Uint32Array(k), out: Uint32Array(k),
//                  key?: Uint32Array(2)) -> boolean
// The twin of dedup/minhash.ts minhashSignature (its definition): words are maximal runs of word units (ASCII
// letters and digits, any unit >= 128 but ’ “ ” — –), hashed by FNV-1a over their lower-cased UTF-16 units and
// fmix32; shingles hash `ngram` consecutive word hashes (a text of fewer words is one shingle); entry i of the
// signature is the minimum over shingles of mix(shingle ^ xa[i]) * ma[i]. Empty text leaves `out` all 0xffffffff.
// With `key`, also the two halves of the exact key of the word sequence (minhash.ts wordSequenceKey), so that exact
// dedup needs no second pass over the text. Lower-casing is ASCII here: when `lowered` is false and the text holds a unit >= 128, nothing is done and the
// call returns false (the caller passes text.toLowerCase() with lowered = true, as the TypeScript does).
inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}
inline bool isMinhashWordUnit(uint32_t c) {
  return (c - 97u < 26u) || (c - 48u < 10u) || (c - 65u < 26u) ||
         (c > 127 && c != 0x2019 && c != 0x201c && c != 0x201d && c != 0x2014 && c != 0x2013);
}

// sig[i] = min(sig[i], mix(x ^ xa[i]) * ...) for every i: the hot loop (k entries per shingle), written so that
// the compiler vectorises it; compiled for AVX-512 and AVX2 as well as the SSE4.1 baseline, because 8 or 16 lanes
// of pmulld/pminud make the whole signature ~1.5x faster than 4. The widest the CPU has is used, unless
// LLMFORGE_SIMD (as for the tensor addon) asks for a narrower one: avx2, or scalar/sse for the baseline.
#define MINHASH_LOOP                              \
  for (size_t i = 0; i < k; i++) {                \
    uint32_t h = (x ^ xa[i]) * ma[i];             \
    h ^= h >> 15;                                 \
    h *= 0x2c1b3c6du;                             \
    sig[i] = h < sig[i] ? h : sig[i];             \
  }
typedef void (*MinhashUpdateFn)(uint32_t* __restrict, const uint32_t* __restrict, const uint32_t* __restrict, size_t, uint32_t);
static void minhashUpdateBase(uint32_t* __restrict sig, const uint32_t* __restrict xa, const uint32_t* __restrict ma, size_t k, uint32_t x) { MINHASH_LOOP }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) static void minhashUpdateAvx2(uint32_t* __restrict sig, const uint32_t* __restrict xa, const uint32_t* __restrict ma, size_t k, uint32_t x) { MINHASH_LOOP }
__attribute__((target("avx512f"))) static void minhashUpdateAvx512(uint32_t* __restrict sig, const uint32_t* __restrict xa, const uint32_t* __restrict ma, size_t k, uint32_t x) { MINHASH_LOOP }
#endif
static const char* minhashIsa = "sse4.1";
static MinhashUpdateFn pickMinhashUpdate() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const char* want = std::getenv("LLMFORGE_SIMD");
  const std::string w = want ? want : "";
  __builtin_cpu_init();
  const bool narrow = w == "scalar" || w == "sse" || w == "sse4.1";
  if (!narrow && w != "avx2" && __builtin_cpu_supports("avx512f")) {
    minhashIsa = "avx512";
    return minhashUpdateAvx512;
  }
  if (!narrow && __builtin_cpu_supports("avx2")) {
    minhashIsa = "avx2";
    return minhashUpdateAvx2;
  }
#endif
  return minhashUpdateBase;
}
static const MinhashUpdateFn minhashUpdate = pickMinhashUpdate();

Napi::Value MinhashSignature(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const char* fn = "minhashSignature";
    if (info.Length() < 6) throw ArgError{std::string(fn) + ": expected (text, lowered, ngram, xa, ma, out, key?)"};
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[0], fn);
    const bool lowered = info[1].ToBoolean().Value();
    const double ngramD = info[2].As<Napi::Number>().DoubleValue();
    if (!(ngramD >= 1 && ngramD <= 64)) throw ArgError{std::string(fn) + ": ngram must be 1..64"};
    const size_t ngram = (size_t)ngramD;
    auto xa = typed<uint32_t>(info[3], fn, "xa");
    const size_t k = xa.ElementLength();
    auto ma = typed<uint32_t>(info[4], fn, "ma", k);
    auto out = typed<uint32_t>(info[5], fn, "out", k);
    uint32_t* key = nullptr;
    if (info.Length() > 6 && !info[6].IsUndefined() && !info[6].IsNull()) key = typed<uint32_t>(info[6], fn, "key", 2).Data();
    const u16* t = sc.text.data();
    if (!lowered) {
      uint32_t any = 0;
      for (size_t i = 0; i < n; i++) any |= t[i];
      if (any >= 128) return Napi::Boolean::New(env, false);
    }
    // word hashes (FNV-1a over lower-cased units, then fmix32)
    std::vector<int32_t>& wv = sc.a;
    size_t nw = 0;
    uint32_t* words = (uint32_t*)ensure(wv, n / 2 + 2);
    uint32_t h = FNV0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
      uint32_t c = t[i];
      if (isMinhashWordUnit(c)) {
        if (!in) {
          h = FNV0;
          in = true;
        }
        h = fnvStep(h, c - 65u < 26u ? c + 32 : c);
      } else if (in) {
        words[nw++] = fmix32(h);
        in = false;
      }
    }
    if (in) words[nw++] = fmix32(h);
    if (key) {
      uint32_t k1 = 0x2545f491u ^ (uint32_t)nw, k2 = 0x27d4eb2fu;
      for (size_t i = 0; i < nw; i++) {
        k1 = (k1 ^ words[i]) * 0x01000193u;
        k2 = ((k2 ^ fmix32(words[i])) * 0x5bd1e995u) ^ (k2 >> 13);
      }
      key[0] = fmix32(k1);
      key[1] = fmix32(k2);
    }
    uint32_t* sig = out.Data();
    std::fill(sig, sig + k, 0xffffffffu);
    if (nw == 0) return Napi::Boolean::New(env, true);
    const size_t g = std::min(ngram, nw);
    const uint32_t* xs = xa.Data();
    const uint32_t* ms = ma.Data();
    for (size_t i = 0; i + g <= nw; i++) {
      uint32_t s = 0x9747b28cu;
      for (size_t j = 0; j < g; j++) s = ((s ^ words[i + j]) * 0x5bd1e995u) ^ (s >> 15);
      minhashUpdate(sig, xs, ms, k, fmix32(s));
    }
    return Napi::Boolean::New(env, true);
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("scanWords", Napi::Function::New(env, ScanWords));
  exports.Set("languageModel", Napi::Function::New(env, LanguageModelNew));
  exports.Set("languageScores", Napi::Function::New(env, LanguageScores));
  exports.Set("cleanScreen", Napi::Function::New(env, CleanScreen));
  exports.Set("gopherLineRepeats", Napi::Function::New(env, GopherLineRepeats));
  exports.Set("gopherNGrams", Napi::Function::New(env, GopherNGrams));
  exports.Set("gopherTokenStats", Napi::Function::New(env, GopherTokenStats));
  exports.Set("needleSet", Napi::Function::New(env, NeedleSetNew));
  exports.Set("needleSearch", Napi::Function::New(env, NeedleSearch));
  exports.Set("minhashSignature", Napi::Function::New(env, MinhashSignature));
  exports.Set("minhashIsa", Napi::String::New(env, minhashIsa));
  return exports;
}

}  // namespace

NODE_API_MODULE(llmforge_text, Init)
