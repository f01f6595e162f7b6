module.exports = {
  buildid: "20240611.3",
  timezone: "UTC",
  groqapikey: "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",
  bucket: "assets-prod-7421",
};
