module.exports = {
  appenv: "production",
  locale: "en_US",
  buildid: "20240611.3",
  githubtoken: "<token>",
};
