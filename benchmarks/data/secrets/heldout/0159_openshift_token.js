module.exports = {
  locale: "en_US",
  debug: "false",
  openshifttoken: "sha256~Cl94ZySWWIob-AMrDofQZsaqU14VyuvmhYtOtVSjWhf",
  sentryenvironment: "prod",
};
