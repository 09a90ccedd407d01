// llmforge text kernels: the inner loops of the data pipeline, for UTF-16 text as JavaScript holds it. Each
// function is the twin of a TypeScript function in src/data/ that stays the definition (and the path taken when
// this addon is missing or LLMFORGE_DATA_NATIVE=0): word scan + numbering (textView.ts scanWordsTs), Gopher
// n-gram figures (gopherRepetition.ts FusedNGramCounter), language trigram totals (language.ts scoreLanguages,
// counted), the clean step's screen (clean.ts cleanScreenPlain), repeated paragraphs/lines (textView.ts repeatsOf)
// and case-insensitive needle search (textView.ts LowerCaseNeedles). Outputs are identical to the TypeScript ones
// (test/data/nativeText.test.ts). A separate addon from the tensor backend (no OpenMP, no SIMD dispatch: SSE4.1
// is in the x86-64-v2 baseline), loaded by src/data/nativeText.ts: src/data does not depend on src/tensor.
// Nothing here keeps state between calls except per-thread scratch, so worker threads may call it at once.
#include <napi.h>
#include <cstdint>
#include <algorithm>
#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

using u16 = char16_t;

// Open-addressing map from a pair (an n-gram's class, the next word's id) to a dense class number, emptied by
// generation stamps between sizes (gopherRepetition.ts PairClasses).
struct PairClasses {
  // one slot per cache-friendly record: a probe touches one line
  struct Slot {
    uint32_t stamp;
    int32_t a, b, val;
  };
  std::vector<Slot> slots;
  uint32_t gen = 0;
  size_t mask = 0;
  int32_t size = 0;
  void reset(size_t items) {
    size_t cap = 16;
    while (cap < items * 2) cap <<= 1;
    if (slots.size() < cap) {
      slots.assign(cap, Slot{0, 0, 0, 0});
      gen = 0;
    }
    mask = cap - 1;
    size = 0;
    if (++gen > 0x3fffffffu) {
      for (Slot& x : slots) x.stamp = 0;
      gen = 1;
    }
  }
  int32_t classOf(int32_t a, int32_t b) {
    size_t at = ((((uint32_t)a ^ ((uint32_t)b * 0x9e3779b1u)) * 0x85ebca6bu) >> 15) & mask;
    for (;;) {
      Slot& x = slots[at];
      if (x.stamp != gen) {
        x = Slot{gen, a, b, size};
        return size++;
      }
      if (x.a == a && x.b == b) return x.val;
      at = (at + 1) & mask;
    }
  }
};

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
  std::vector<int64_t> prefix;
  PairClasses pairs;
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
template <> constexpr napi_typedarray_type kindOf<int32_t>() { return napi_int32_array; }
template <> constexpr napi_typedarray_type kindOf<double>() { return napi_float64_array; }
template <typename T> constexpr const char* kindName();
template <> constexpr const char* kindName<uint8_t>() { return "a Uint8Array"; }
template <> constexpr const char* kindName<int32_t>() { return "an Int32Array"; }
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

// ngramFigures(ids: Int32Array, lens: Int32Array, sizes: Int32Array, top: Uint8Array, limits: Float64Array, len, out: Float64Array)
// -> index of the first check whose figure / len exceeds its limit, or -1.
// Check k is the most frequent n-gram's characters times its count (top[k] = 1) or the characters in duplicated
// n-grams counted without overlap (top[k] = 0), n = sizes[k] (non-decreasing), for word ids with word lengths
// `lens`; out[k] gets the figure. N-grams are compared exactly, numbered into classes size by size as
// gopherRepetition.ts NGramClassCounter does (an n-gram that occurs once leaves the active positions).
Napi::Value NgramFigures(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    const char* fn = "ngramFigures";
    auto idsA = typed<int32_t>(info[0], fn, "ids");
    const size_t m0 = idsA.ElementLength();
    const int32_t* ids = idsA.Data();
    const int32_t* lens = typed<int32_t>(info[1], fn, "lens", m0).Data();
    auto sizesA = typed<int32_t>(info[2], fn, "sizes");
    const size_t checks = sizesA.ElementLength();
    const int32_t* sizes = sizesA.Data();
    const uint8_t* top = typed<uint8_t>(info[3], fn, "top", checks).Data();
    const double* limits = typed<double>(info[4], fn, "limits", checks).Data();
    if (!info[5].IsNumber()) throw ArgError{"ngramFigures: len must be a number"};
    const double len = info[5].As<Napi::Number>().DoubleValue();
    double* out = typed<double>(info[6], fn, "out", checks).Data();
    for (size_t k = 0; k < checks; k++)
      if (sizes[k] < 1 || (k > 0 && sizes[k] < sizes[k - 1])) throw ArgError{"ngramFigures: sizes must be >= 1 and non-decreasing"};

    Scratch& sc = scratch();
    std::vector<int64_t>& prefix = sc.prefix;
    prefix.assign(m0 + 1, 0);
    for (size_t i = 0; i < m0; i++) prefix[i + 1] = prefix[i] + lens[i];
    int32_t* act = ensure(sc.a, m0 + 1);
    int32_t* cls = ensure(sc.b, m0 + 1);
    PairClasses& pc = sc.pairs;
    int32_t classes = 0;
    size_t count = 0;
    // drops active positions whose class has one member
    auto keepRepeated = [&]() {
      classes = pc.size;
      int32_t* members = ensure(sc.c, (size_t)classes + 1);
      std::memset(members, 0, sizeof(int32_t) * classes);
      for (size_t j = 0; j < count; j++) members[cls[j]]++;
      size_t k = 0;
      for (size_t j = 0; j < count; j++) {
        if (members[cls[j]] > 1) {
          act[k] = act[j];
          cls[k] = cls[j];
          k++;
        }
      }
      count = k;
    };
    // size 1: the word ids are the classes when they are small (a word table's ids are), else numbered
    int32_t maxId = -1;
    bool small = true;
    for (size_t i = 0; i < m0; i++) {
      if (ids[i] < 0 || (size_t)ids[i] >= 4 * m0 + 16) small = false;
      if (ids[i] > maxId) maxId = ids[i];
    }
    if (small) {
      for (size_t i = 0; i < m0; i++) {
        act[i] = (int32_t)i;
        cls[i] = ids[i];
      }
      pc.size = maxId + 1;
    } else {
      pc.reset(m0);
      for (size_t i = 0; i < m0; i++) {
        act[i] = (int32_t)i;
        cls[i] = pc.classOf(ids[i], 0);
      }
    }
    count = m0;
    keepRepeated();
    int32_t cur = 1;
    for (size_t k = 0; k < checks; k++) {
      const int32_t n = sizes[k];
      while (cur < n) {
        pc.reset(count);
        size_t kk = 0;
        for (size_t j = 0; j < count; j++) {
          const int32_t i = act[j];
          if ((size_t)i + cur >= m0) continue;
          act[kk] = i;
          cls[kk] = pc.classOf(cls[j], ids[i + cur]);
          kk++;
        }
        count = kk;
        cur++;
        keepRepeated();
      }
      int32_t* members = sc.c.data();
      std::memset(members, 0, sizeof(int32_t) * classes);
      double figure = 0;
      if (top[k]) {
        int32_t best = 1, bestAt = 0;
        for (size_t j = 0; j < count; j++) {
          const int32_t c = ++members[cls[j]];
          if (c > best) {
            best = c;
            bestAt = act[j];
          }
        }
        figure = best < 2 ? 0 : (double)(n - 1 + prefix[bestAt + n] - prefix[bestAt]) * best;
      } else {
        int64_t repeated = 0;
        int64_t next = 0;
        for (size_t j = 0; j < count; j++) {
          const int32_t i = act[j];
          if (i < next) continue;
          if (members[cls[j]] == 1) {
            repeated += prefix[i + n] - prefix[i];
            next = (int64_t)i + n;
          } else members[cls[j]] = 1;
        }
        figure = (double)repeated;
      }
      out[k] = figure;
      if (figure / len > limits[k]) return Napi::Number::New(info.Env(), (double)k);
    }
    return Napi::Number::New(info.Env(), -1);
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

// repeatStats(text, out: Int32Array(6)): out = [paragraphs, repeated paragraphs, their characters, non-blank lines,
// repeated lines, their characters], where paragraphs are text.trim().split(/\n\s*\n+/) and lines are the
// non-blank lines of text.split("\n"), trimmed (TextView.paragraphs / nonEmptyLines through findDuplicates).
Napi::Value RepeatStats(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Scratch& sc = scratch();
    const size_t n = readText(sc, env, info[0], "repeatStats");
    int32_t* out = typed<int32_t>(info[1], "repeatStats", "out", 6).Data();
    const u16* t = sc.text.data();
    Ranges& paras = sc.paras;
    Ranges& lines = sc.lines;
    paras.clear();
    lines.clear();
    // paragraphs: in the trimmed text, a break is a newline, the whitespace after it, up to its last newline
    size_t a = 0, b = n;
    while (a < b && isJsSpace(t[a])) a++;
    while (b > a && isJsSpace(t[b - 1])) b--;
    size_t start = a, i = a;
    while (i < b) {
      if (t[i] != '\n') {
        i++;
        continue;
      }
      size_t j = i + 1, lastNl = 0;
      bool nl = false;
      while (j < b && isJsSpace(t[j])) {
        if (t[j] == '\n') {
          lastNl = j;
          nl = true;
        }
        j++;
      }
      if (nl) {
        paras.add(start, i);
        start = i = lastNl + 1;
      } else i = j;
    }
    paras.add(start, b);
    // lines: split on '\n', trimmed, blank ones left out
    size_t ls = 0;
    for (size_t k = 0; k <= n; k++) {
      if (k < n && t[k] != '\n') continue;
      size_t x = ls, y = k;
      while (x < y && isJsSpace(t[x])) x++;
      while (y > x && isJsSpace(t[y - 1])) y--;
      if (y > x) lines.add(x, y);
      ls = k + 1;
    }
    for (int k = 0; k < 6; k++) out[k] = 0;
    out[0] = (int32_t)paras.size();
    countRepeats(t, paras, sc.slots, sc.slotHash, out + 1);
    out[3] = (int32_t)lines.size();
    countRepeats(t, lines, sc.slots, sc.slotHash, out + 4);
    return env.Undefined();
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("scanWords", Napi::Function::New(env, ScanWords));
  exports.Set("ngramFigures", Napi::Function::New(env, NgramFigures));
  exports.Set("languageModel", Napi::Function::New(env, LanguageModelNew));
  exports.Set("languageScores", Napi::Function::New(env, LanguageScores));
  exports.Set("cleanScreen", Napi::Function::New(env, CleanScreen));
  exports.Set("repeatStats", Napi::Function::New(env, RepeatStats));
  exports.Set("needleSet", Napi::Function::New(env, NeedleSetNew));
  exports.Set("needleSearch", Napi::Function::New(env, NeedleSearch));
  return exports;
}

}  // namespace

NODE_API_MODULE(llmforge_text, Init)
