import { describe, expect, it } from "vitest";
import { cnResidentIdValid, findPii, luhnValid, scrubPii, type PiiType } from "../../src/data/pii.js";

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
