module.exports = {
  cachettl: "3600",
  dockerpassword: "dckr_pat_3-wS2a2YiJR7pul5rfU7Qrc-TM4",
  port: "8080",
  sentryenvironment: "prod",
  buildid: "20240611.3",
};
