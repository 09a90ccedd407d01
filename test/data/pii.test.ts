import { describe, expect, it } from "vitest";
import { cnResidentIdValid, findPii, findPiiPlain, ipv6Plausible, luhnValid, scrubDocument, scrubPii, secretNameType, shannonEntropy, parsePiiConfig, type PiiType } from "../../src/data/pii.js";
import { DataStats } from "../../src/data/stats.js";

function types(text: string): PiiType[] {
  return findPii(text).map((m) => m.type);
}

/** Builds a valid Chinese resident ID by computing its check digit. */
function cnId(first17: string): string {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(first17[i]) * w[i];
  return first17 + "10X98765432"[s % 11];
}

const positives: Array<[PiiType, string, string]> = [
  ["email", "Write to john.doe+news@example.co.uk today.", "Write to <EMAIL> today."],
  ["email", "From: Mike Masnick <mike@techdirt.com>", "From: Mike Masnick <<EMAIL>>"],
  ["phone", "Call +1 415 555 2671 now", "Call <PHONE> now"],
  ["phone", "Call +44 20 7946 0958.", "Call <PHONE>."],
  ["phone", "Tel: +49 (30) 1234567", "Tel: <PHONE>"],
  ["phone", "US office (212) 555-0123 or 212-555-0199.", "US office <PHONE> or <PHONE>."],
  ["phone", "toll free 1-800-555-0199", "toll free <PHONE>"],
  ["phone", "London 020 7946 0958, mobile 07700 900123", "London <PHONE>, mobile <PHONE>"],
  ["phone", "Paris 01 23 45 67 89", "Paris <PHONE>"],
  ["phone", "Berlin 030/1234567", "Berlin <PHONE>"],
  ["phone", "手机 138 1234 5678", "手机 <PHONE>"],
  ["ip_address", "server at 192.168.1.20 responded", "server at <IP_ADDRESS> responded"],
  ["ip_address", "from [64.161.22.236] by", "from [<IP_ADDRESS>] by"],
  ["ip_address", "v6 host 2001:db8:85a3::8a2e:370:7334 up", "v6 host <IP_ADDRESS> up"],
  ["ip_address", "loopback fe80::1 and ::1", "loopback <IP_ADDRESS> and <IP_ADDRESS>"],
  ["ip_address", "full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 form", "full <IP_ADDRESS> form"],
  ["ip_address", "compressed 2001:db8::ff00:42:8329 and 2001:4860:4860::8888.", "compressed <IP_ADDRESS> and <IP_ADDRESS>."],
  ["ip_address", "mapped ::ffff:192.0.2.128 here", "mapped <IP_ADDRESS> here"],
  ["ip_address", "url http://[2001:db8::1]:8080/ ok", "url http://[<IP_ADDRESS>]:8080/ ok"],
  ["credit_card", "card 4111 1111 1111 1111 exp", "card <CREDIT_CARD> exp"],
  ["credit_card", "amex 378282246310005.", "amex <CREDIT_CARD>."],
  ["credit_card", "mc 5555-5555-5555-4444", "mc <CREDIT_CARD>"],
  ["us_ssn", "SSN 078-05-1120 on file", "SSN <US_SSN> on file"],
  ["us_ssn", "SSN: 219099999", "SSN: <US_SSN>"],
  ["cn_resident_id", `ID ${cnId("11010519491231002")} ok`, "ID <CN_RESIDENT_ID> ok"],
];

describe("PII: each type is found and replaced", () => {
  for (const [type, input, expected] of positives) {
    it(`${type}: ${input}`, () => {
      expect(types(input)).toContain(type);
      expect(scrubPii(input).text).toBe(expected);
    });
  }
});

const negatives: Array<[string, string]> = [
  ["ISO date", "Released on 2023-01-15 at 10:30:45."],
  ["US date", "Due 12/31/2023 or 01/02/2024."],
  ["European date", "Am 01.02.2023 und 15-03-2024."],
  ["version numbers", "Upgrade from version 1.2.3.4 to v10.0.0.1 and 2.14.1."],
  ["prices", "It costs $1,234.56 or €99.99, down from 1 299,00 kr."],
  ["plain numbers", "Population 1234567890 grew by 12345 in 2021; pi is 3.14159265358979."],
  ["big formatted number", "The debt is 31,400,000,000,000 dollars."],
  ["times", "Meet at 12:30, or 09:15:00 UTC."],
  ["invalid Luhn card", "Order 4111 1111 1111 1112 shipped."],
  ["Luhn-valid but no card brand", "Ref 1234567812345670 ok."],
  ["invalid SSN area", "Codes 000-12-3456 and 666-12-3456 and 900-12-3456."],
  ["CN id bad check digit", "Number 110105194912310020 here."],
  ["CN id bad date", "Number 110105194913310021 here."],
  ["ISBN", "ISBN 978-0-306-40615-7 and 0-306-40615-2."],
  ["score and ratio", "Final score 3-2, ratio 16:9, chapter 3.2.1."],
  ["C++ scope", "Use std::vector and a::b in code."],
  ["verse with double colon (Brown)", "Revelation 3:20:: 20 Behold, I stand at the door."],
  ["verse references", "John 3:16, Genesis 1:1-3, Mark 1:2::3 and Psalm 23:1."],
  ["C++ hex words", "int dead::beef = 0; cafe::babe();"],
  ["MAC address", "eth0 link 00:1a:2b:3c:4d:5e and 00-1A-2B-3C-4D-5E."],
  ["section numbers", "See section 1.2.3.4 and chapter 10.2.0.1 and figure 2.1.1.3."],
  ["no-TLD address", "user@localhost is local."],
  ["year range", "From 1990-2000 and 2001-2010."],
  ["zip+4", "Zip 02139-4307 in MA."],
];

describe("PII: ordinary numbers, dates, versions and prices are left alone", () => {
  for (const [name, input] of negatives) {
    it(name, () => {
      expect(findPii(input)).toEqual([]);
      expect(scrubPii(input).text).toBe(input);
    });
  }
});

describe("PII validators", () => {
  it("Luhn", () => {
    expect(luhnValid("79927398713")).toBe(true);
    expect(luhnValid("79927398710")).toBe(false);
  });
  it("Chinese resident ID check digit (X included)", () => {
    expect(cnResidentIdValid(cnId("11010519491231002"))).toBe(true);
    expect(cnResidentIdValid("11010519491231002X")).toBe(cnId("11010519491231002").endsWith("X"));
    // a known valid example with X check digit
    const withX = ["44052418800101001", "11010119900307123", "32010619850101123"].map(cnId).find((x) => x.endsWith("X"));
    if (withX) expect(cnResidentIdValid(withX.replace("X", "x"))).toBe(true);
  });
  it("counts per type and respects the enabled types", () => {
    const r = scrubPii("a@b.io and c@d.org, 10.0.0.1", { types: ["email"], placeholders: {} });
    expect(r.counts).toEqual({ email: 2 });
    expect(r.text).toBe("<EMAIL> and <EMAIL>, 10.0.0.1");
  });
});

// Fake secrets are built here from a seeded generator and split prefixes, so that no string in this file is a
// real-looking credential that push-protection scanners would flag; each has the shape of its provider's format.
function fake(alphabet: string, n: number, seed: number): string {
  let x = seed * 2654435761;
  let s = "";
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x ^ (x >>> 15), 2246822519) + 0x9e3779b9) >>> 0;
    s += alphabet[x % alphabet.length];
  }
  return s;
}
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = LOWER.toUpperCase();
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const B64 = `${ALNUM}+/`;
const B64URL = `${ALNUM}_-`;
const HEX = "0123456789abcdef";
const b64url = (s: string) => Buffer.from(s).toString("base64url");
const join = (...p: string[]) => p.join("");

const awsId = join("AK", "IA", fake(`${UPPER}234567`, 16, 1));
const awsSecret = fake(B64, 40, 2);
const ghp = join("gh", "p_", fake(ALNUM, 36, 3));
const gho = join("gh", "o_", fake(ALNUM, 36, 4));
const ghs = join("gh", "s_", fake(ALNUM, 36, 5));
const ghu = join("gh", "u_", fake(ALNUM, 36, 6));
const ghPat = join("github", "_pat_", fake(ALNUM, 22, 7), "_", fake(ALNUM, 59, 8));
const glpat = join("gl", "pat-", fake(B64URL, 20, 9));
const slackBot = join("xo", "xb-", fake(DIGITS, 12, 10), "-", fake(DIGITS, 13, 11), "-", fake(ALNUM, 24, 12));
const slackUser = join("xo", "xp-", fake(DIGITS, 12, 13), "-", fake(DIGITS, 12, 14), "-", fake(DIGITS, 13, 15), "-", fake(HEX, 32, 16));
const slackHookPath = join("T", fake(UPPER + DIGITS, 8, 17), "/B", fake(UPPER + DIGITS, 8, 18), "/", fake(ALNUM, 24, 19));
const stripeLive = join("sk", "_live_", fake(ALNUM, 24, 20));
const stripeRestricted = join("rk", "_live_", fake(ALNUM, 24, 21));
const google = join("AI", "za", fake(B64URL, 35, 22));
const openaiLegacy = join("sk", "-", fake(ALNUM, 48, 23));
const openaiProject = join("sk", "-proj-", fake(B64URL, 120, 24));
const anthropic = join("sk", "-ant-api03-", fake(B64URL, 93, 25), "AA");
const hf = join("hf", "_", fake(UPPER + LOWER, 34, 26));
const npm = join("np", "m_", fake(ALNUM, 36, 27));
const twilio = join("S", "K", fake(HEX, 32, 28));
const sendgrid = join("S", "G.", fake(B64URL, 22, 29), ".", fake(B64URL, 43, 30));
const jwt = [b64url('{"alg":"HS256","typ":"JWT"}'), b64url('{"sub":"1234567890","name":"Jane Roe","iat":1516239022}'), fake(B64URL, 43, 31)].join(".");
const bearer = fake(`${ALNUM}._-`, 40, 32);
const genericKey = fake(ALNUM, 32, 33);
const dbPassword = join(fake(LOWER, 5, 34), "7", fake(UPPER, 2, 35), "!", fake(DIGITS, 2, 36));
const urlPassword = join(fake(ALNUM, 14, 37));
const keyBody = Array.from({ length: 5 }, (_, i) => fake(B64, 64, 40 + i)).join("\n");
const pem = (label: string) => `-----BEGIN ${label}-----\n${keyBody}\n-----END ${label}-----`;

const secretPositives: Array<[PiiType, string, string]> = [
  ["api_key", `id ${awsId} in config`, "id <API_KEY> in config"],
  ["api_key", `aws_secret_access_key = ${awsSecret}`, "aws_secret_access_key = <API_KEY>"],
  ["api_key", `AWS_SECRET_ACCESS_KEY: "${awsSecret}"`, 'AWS_SECRET_ACCESS_KEY: "<API_KEY>"'],
  ["api_key", `token ${ghp} leaked`, "token <API_KEY> leaked"],
  ["api_key", `oauth ${gho}`, "oauth <API_KEY>"],
  ["api_key", `app ${ghs} and ${ghu}`, "app <API_KEY> and <API_KEY>"],
  ["api_key", `fine-grained ${ghPat}.`, "fine-grained <API_KEY>."],
  ["api_key", `gitlab ${glpat}`, "gitlab <API_KEY>"],
  ["api_key", `SLACK_BOT=${slackBot}`, "SLACK_BOT=<API_KEY>"],
  ["api_key", `user token ${slackUser}`, "user token <API_KEY>"],
  ["api_key", `POST https://hooks.slack.com/services/${slackHookPath} now`, "POST https://hooks.slack.com/services/<API_KEY> now"],
  ["api_key", `stripe.api_key = "${stripeLive}"`, 'stripe.api_key = "<API_KEY>"'],
  ["api_key", `restricted ${stripeRestricted}`, "restricted <API_KEY>"],
  ["api_key", `key=${google}&q=x`, "key=<API_KEY>&q=x"],
  ["api_key", `openai ${openaiLegacy}`, "openai <API_KEY>"],
  ["api_key", `OPENAI_API_KEY=${openaiProject}`, "OPENAI_API_KEY=<API_KEY>"],
  ["api_key", `client = Anthropic(api_key="${anthropic}")`, 'client = Anthropic(api_key="<API_KEY>")'],
  ["api_key", `login(${hf})`, "login(<API_KEY>)"],
  ["api_key", `//registry.npmjs.org/:_authToken=${npm}`, "//registry.npmjs.org/:_authToken=<API_KEY>"],
  ["api_key", `twilio key ${twilio}`, "twilio key <API_KEY>"],
  ["api_key", `sendgrid ${sendgrid}`, "sendgrid <API_KEY>"],
  ["api_key", `cookie: session=${jwt};`, "cookie: session=<API_KEY>;"],
  ["api_key", `curl -H "Authorization: Bearer ${bearer}" url`, 'curl -H "Authorization: Bearer <API_KEY>" url'],
  ["api_key", `const apiKey = '${genericKey}';`, "const apiKey = '<API_KEY>';"],
  ["api_key", `{"client_secret": "${genericKey}", "id": 3}`, '{"client_secret": "<API_KEY>", "id": 3}'],
  ["password", `DB_PASSWORD=${dbPassword}`, "DB_PASSWORD=<PASSWORD>"],
  ["password", `  password: "${dbPassword}"`, '  password: "<PASSWORD>"'],
  ["password", `connect(user="app", passwd='${dbPassword}')`, `connect(user="app", passwd='<PASSWORD>')`],
  ["password", `postgres://admin:${urlPassword}@db.internal:5432/app`, "postgres://admin:<PASSWORD>@db.internal:5432/app"],
  ["password", `see https://bob:${urlPassword}@example.com/x and mail bob@example.com`, "see https://bob:<PASSWORD>@example.com/x and mail <EMAIL>"],
  ["private_key", `key:\n${pem("RSA PRIVATE KEY")}\nend`, "key:\n<PRIVATE_KEY>\nend"],
  ["private_key", pem("OPENSSH PRIVATE KEY"), "<PRIVATE_KEY>"],
  ["private_key", pem("PRIVATE KEY"), "<PRIVATE_KEY>"],
  ["private_key", pem("ENCRYPTED PRIVATE KEY"), "<PRIVATE_KEY>"],
  ["private_key", pem("PGP PRIVATE KEY BLOCK"), "<PRIVATE_KEY>"],
];

describe("secrets: each provider format and assignment form is found; only the secret is replaced", () => {
  for (const [type, input, expected] of secretPositives) {
    it(`${type}: ${expected}`, () => {
      expect(types(input)).toContain(type);
      expect(scrubPii(input).text).toBe(expected);
    });
  }
});

const secretNegatives: Array<[string, string]> = [
  ["verses", "John 3:16 and Revelation 3:20:: 20 and 1 Cor. 13:4-7."],
  ["versions", "Upgrade 1.2.3 to v2.0.0-rc.1 (build 2.0.0+20240101) and node@20.11.1."],
  ["dates and times", "On 2024-03-05T12:30:45Z, or 12:30:45, or 5/3/24 at 9:05 pm."],
  ["ratios", "Mix 3:1, screen 16:9, odds 100:1."],
  ["git SHAs", "Fixed in commit 3f786850e387550fdab836ed7e6dc881de23001b (short 3f78685)."],
  ["hex digests", "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 md5 098f6bcd4621d373cade4e832627b4f6"],
  ["UUIDs", "Request 123e4567-e89b-12d3-a456-426614174000 and 550E8400-E29B-41D4-A716-446655440000."],
  ["MAC addresses", "Interface 00:1A:2B:3C:4D:5E and 00-1a-2b-3c-4d-5e."],
  ["prose about tokens and secrets", "He kept the secret: nothing. The token of 1000 coins was a password-free gift; passwords: many."],
  ["non-secret identifiers", "tokenizer = 'bert-base-uncased-v2'\nmax_tokens: 1024\nsecretary = 'Jane Roe 2nd'"],
  ["secrets read from elsewhere", "password = os.environ['DB_PASSWORD']\napi_key = get_key(2)\ntoken = self.token12345678"],
  ["placeholders", `api_key = "YOUR_API_KEY"\npassword: "<password>"\nSECRET=${"$"}{SECRET_1234}\ntoken = "xxxxxxxxxxxxxxxxxxxxxxxx1"\napiKey: "example-key-123456789"`],
  ["comparisons", 'if password == "abc12345XYZ": pass'],
  ["documented key block", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----"],
  ["URLs without passwords", "https://example.com:8080/a:b@c, ftp://anonymous:*****@ftp.example.org, wget https://username:password@example.org/"],
  ["prefixes inside longer identifiers", "my_ghp_helper and AKIA_CONFIG and hf_hub_download and sk-learn and eyJhbGciOi"],
  ["hyphenated prose", "a well-to-do-looking-and-self-satisfied gentleman; non-discrimination-related"],
  ["JWT-shaped but not JSON", `${join("ey", "J")}${fake(ALNUM, 20, 50)}.${join("ey", "J")}${fake(ALNUM, 20, 51)}.${fake(ALNUM, 20, 52)}`],
];

describe("secrets: verses, versions, dates, times, ratios, hashes, UUIDs and code that reads secrets are left alone", () => {
  for (const [name, input] of secretNegatives) {
    it(name, () => {
      expect(findPii(input)).toEqual([]);
      expect(scrubPii(input).text).toBe(input);
    });
  }
});

describe("secret helpers", () => {
  it("names of secrets: the keyword must end the name or a part of it", () => {
    expect(secretNameType("DB_PASSWORD")).toBe("password");
    expect(secretNameType("apiKey")).toBe("api_key");
    expect(secretNameType("github_token")).toBe("api_key");
    expect(secretNameType("tokenValue")).toBe("api_key");
    expect(secretNameType("tokenizer")).toBe(null);
    expect(secretNameType("secretary")).toBe(null);
    expect(secretNameType("max_tokens")).toBe(null);
  });
  it("Shannon entropy", () => {
    expect(shannonEntropy("aaaa")).toBe(0);
    expect(shannonEntropy("abcd")).toBe(2);
  });
  it("IPv6 plausibility", () => {
    expect(ipv6Plausible("3:20::")).toBe(false);
    expect(ipv6Plausible("2001:db8::1")).toBe(true);
    expect(ipv6Plausible("::1")).toBe(true);
    expect(ipv6Plausible("::ffff:10.0.0.1")).toBe(true);
    expect(ipv6Plausible("dead::beef")).toBe(false);
  });
  it("source code: emails and secrets are scrubbed, numbers are not", () => {
    const doc = { id: "c1", text: `const token = "${genericKey}"; // 192.168.0.1, call 212-555-0199\nfetch("${ghp}")`, source: "code", meta: { kind: "code" } };
    const out = scrubDocument(doc, parsePiiConfig({}), new DataStats("pii"));
    expect(out.text).toBe(`const token = "<API_KEY>"; // 192.168.0.1, call 212-555-0199\nfetch("<API_KEY>")`);
  });
  it("report examples do not reveal passwords", () => {
    const stats = new DataStats("pii");
    scrubDocument({ id: "d", text: `DB_PASSWORD=${dbPassword}`, source: "s", meta: {} }, parsePiiConfig({}), stats);
    const json = JSON.stringify(stats.toJSON());
    expect(json).not.toContain(dbPassword);
    expect(json).toContain('"d: ***********"');
  });
});

describe("the candidate-driven search equals the plain global scans", () => {
  it("on random strings of digits, separators, keywords and operators (every type occurs)", () => {
    const pieces = ["0", "1", "2", "3", "4", "5", "9", "12", "123", "1234", "4111", "078", "555", " ", "-", ".", "(", ")", "+", "/", ",", ":", "=", "X", "a", "SSN ", "ssn: ", "v", "'", '"', "key", "password", "token", " = ", ": ", "Ab3", "zQ9x", "\n", "::", "ff", "1111 ", "13812345678", cnId("11010519491231002"), "@", "x.io", "://", "http://u:", "pw9@h.io", "git+ssh://", "a:Zq8@", "fe80", "2001:db8", ":1", "_", "%", "+x", "a.b", "ff:"];
    let x = 12345;
    const rnd = (n: number) => {
      x = (Math.imul(x ^ (x >>> 13), 1597334677) + 12345) >>> 0;
      return x % n;
    };
    const seen = new Set<string>();
    for (let k = 0; k < 30000; k++) {
      let s = "";
      for (let i = 1 + rnd(30); i > 0; i--) s += pieces[rnd(pieces.length)];
      const fast = findPii(s);
      expect(fast, s).toEqual(findPiiPlain(s));
      for (const m of fast) seen.add(m.type);
    }
    for (const t of ["email", "ip_address", "credit_card", "cn_resident_id", "us_ssn", "phone", "password", "api_key"]) expect(seen, t).toContain(t);
  });
});
