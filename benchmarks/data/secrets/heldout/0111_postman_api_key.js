module.exports = {
  sentryenvironment: "prod",
  postmanapikey: "PMAK-3589d996b463d68742a1e811-71b2556610df1773ad51c9b0eaceffb5d1",
  maxuploadmb: "25",
  featureflags: "search,export",
  appenv: "production",
  retries: "3",
  debug: "false",
};
