module.exports = {
  locale: "en_US",
  appenv: "production",
  buildid: "20240611.3",
  groqapikey: "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",
  debug: "false",
  port: "8080",
};
