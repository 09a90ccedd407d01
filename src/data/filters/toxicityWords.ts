// The default toxicity word/phrase list: common English profanity, sexual terms and slurs, in the
// spirit of the "List of Dirty, Naughty, Obscene, and Otherwise Bad Words" that C4 used. Override
// it with `toxicity.wordsFile` (one entry per line) or extend it with `toxicity.extraWords`.
// Entries are lower case; multi-word entries are matched as whole phrases.

export const DEFAULT_TOXIC_WORDS: readonly string[] = [
  "anal", "anus", "arse", "arsehole", "ass", "asshole", "assholes", "bastard", "bastards", "bitch", "bitches",
  "bitching", "blowjob", "blow job", "bollocks", "boner", "boob", "boobs", "bullshit", "butthole", "chink",
  "chinks", "clit", "clitoris", "cock", "cocks", "cocksucker", "coon", "coons", "crap", "cum", "cumshot", "cunt",
  "cunts", "dick", "dickhead", "dicks", "dildo", "dyke", "fag", "faggot", "faggots", "fags", "fellatio", "fuck",
  "fucked", "fucker", "fuckers", "fuckin", "fucking", "fucks", "gangbang", "goddamn", "gook", "handjob",
  "hand job", "homo", "horny", "jackass", "jerk off", "jizz", "kike", "kikes", "milf", "motherfucker",
  "motherfuckers", "motherfucking", "nazi", "negro", "nigga", "niggas", "nigger", "niggers", "nude", "nudes",
  "orgasm", "orgy", "paki", "pedophile", "penis", "piss", "pissed", "porn", "porno", "pornography", "prick",
  "pussy", "queer", "rape", "raped", "rapist", "retard", "retarded", "scrotum", "semen", "sex", "sexy", "shit",
  "shits", "shitty", "skank", "slut", "sluts", "spic", "spics", "tits", "titties", "tranny", "twat", "vagina",
  "wank", "wanker", "wetback", "whore", "whores", "xxx",
];
