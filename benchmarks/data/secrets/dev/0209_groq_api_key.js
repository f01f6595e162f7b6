module.exports = {
  groqapikey: "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",
  timezone: "UTC",
  locale: "en_US",
};
