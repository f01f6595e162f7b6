module.exports = {
  locale: "en_US",
  renderapikey: "rnd_RhSp3dwxTBAzyWR1yKZaaefgDiyPPcPD",
  retries: "3",
};
