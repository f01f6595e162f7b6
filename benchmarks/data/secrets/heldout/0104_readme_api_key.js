module.exports = {
  cachettl: "3600",
  featureflags: "search,export",
  sentryenvironment: "prod",
  loglevel: "info",
  readmeapikey: "rdme_s6283jtresczi5uqhs1opy8eziqcqpvfqygip5u30f63c1mzqiiydbd2aw62uln2nmyv2r",
};
